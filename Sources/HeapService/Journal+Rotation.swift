// Journal+Rotation: the active file, once larger than `limits.maxBytes`, becomes the newest
// segment and a new active file begins; at most `limits.segments` segments are kept.
//
//   1. rename journal.ndjson → journal.<k+1>.ndjson   (lines go on to it, by the descriptor)
//   2. create a new journal.ndjson, write its `segment` line (the highest run number so far, the
//      unended runs), fsync it
//   3. fsync the directory (the rename and the new entry), switch the descriptor to the new file
//   4. delete the oldest segments beyond `limits.segments`
//
// A crash between any two steps loses nothing: the opening reads segments newest first until it
// meets a `segment` line, so the runs of a segment whose successor never got its first line are
// still found. A step that fails is logged once and tried again after the next line.

import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

extension Journal {
    /// Rotates the active file (steps 1 to 4 above). Lock held.
    func rotateLocked() {
        fileLock.assertHeldByCurrentThread()
        if !activeRenamed {
            let number = (segmentNumbers.last ?? 0) + 1
            guard rename(path, Journal.segmentPath(directory, number)) == 0 else {
                return rotationFailed("cannot rename \(path): \(String(cString: strerror(errno)))")
            }
            segmentNumbers.append(number)
            activeRenamed = true
        }
        let fresh = open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fresh >= 0 else { return rotationFailed("cannot create \(path): \(String(cString: strerror(errno)))") }
        let header = JournalEntry(kind: "segment", run: nextRun - 1, time: Date().timeIntervalSince1970, running: unended.sorted())
        let failure: JournalError?
        do throws(JournalError) {
            failure = Journal.writeAndSync(try Journal.line(header), to: fresh, disk: disk, path: path)
        } catch {
            failure = error
        }
        if let failure {
            close(fresh)
            unlink(path)
            return rotationFailed(failure.description)
        }
        Journal.syncDirectory(directory, disk: disk, logger: logger)
        close(descriptor)
        descriptor = fresh
        activeRenamed = false
        needsNewline = false
        if rotationFailing {
            logger.notice("journal: rotating again")
            rotationFailing = false
        }
        trimLocked()
    }

    /// Deletes the oldest segments beyond `limits.segments`. Lock held.
    func trimLocked() {
        fileLock.assertHeldByCurrentThread()
        while segmentNumbers.count > limits.segments {
            let oldest = Journal.segmentPath(directory, segmentNumbers[0])
            guard unlink(oldest) == 0 || errno == ENOENT else {
                return logger.error("journal: cannot delete the old segment \(oldest): \(String(cString: strerror(errno)))")
            }
            segmentNumbers.removeFirst()
        }
    }

    /// Logs a failed rotation step, once until a rotation succeeds. Lock held.
    private func rotationFailed(_ message: String) {
        guard !rotationFailing else { return }
        rotationFailing = true
        logger.error("journal: cannot rotate (lines go on to the current file; tried again after the next line): \(message)")
    }
}
