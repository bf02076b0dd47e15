// The private directory of a user's socket when there is no XDG_RUNTIME_DIR: made 0700 when
// absent, and refused when it is not a directory, is a link, belongs to someone else or lets
// others in.

import Foundation
@testable import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SocketFileTests {
    private func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "heapd-socketfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    private func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func anAbsentDirectoryIsMadePrivateAndAPrivateOneIsKept() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = root + "/heapd-1000"
        try SocketFile.makePrivateDirectory(path)
        #expect(mode(path) == 0o700)
        try SocketFile.makePrivateDirectory(path)       // a heapd started again
        #expect(mode(path) == 0o700)
    }

    @Test func aDirectoryThatIsNotPrivateIsRefused() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let open = root + "/open"
        mkdir(open, 0o700)
        chmod(open, 0o755)
        #expect(throws: SocketFileError.directoryNotPrivate(open, "its mode is 0755; it must be 0700")) {
            try SocketFile.makePrivateDirectory(open)
        }
        chmod(open, 0o710)
        #expect(throws: SocketFileError.self) { try SocketFile.makePrivateDirectory(open) }
        let file = root + "/file"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        #expect(throws: SocketFileError.directoryNotPrivate(file, "it is not a directory")) { try SocketFile.makePrivateDirectory(file) }
        // A link to a private directory is not the directory: whoever made the link can change it.
        let target = root + "/target", link = root + "/link"
        mkdir(target, 0o700)
        symlink(target, link)
        #expect(throws: SocketFileError.directoryNotPrivate(link, "it is not a directory")) { try SocketFile.makePrivateDirectory(link) }
        // Someone else's.
        #expect(throws: SocketFileError.directoryNotPrivate(target, "it belongs to uid \(getuid()), not \(getuid() &+ 1)")) {
            try SocketFile.makePrivateDirectory(target, owner: getuid() &+ 1)
        }
    }

    @Test func aDirectoryThatCannotBeMadeIsSaidSo() {
        #expect(throws: SocketFileError.cannotCreateDirectory("/nonexistent-heapd/a/b", ENOENT)) {
            try SocketFile.makePrivateDirectory("/nonexistent-heapd/a/b")
        }
    }
}
