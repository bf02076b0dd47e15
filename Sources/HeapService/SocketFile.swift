// SocketFile: the socket file heapd binds itself (not one systemd passed), and the private
// directory it lives in when there is no XDG_RUNTIME_DIR.
//
//   file        bound under umask 0177, so that it is created 0600 and nobody else can connect
//               while it is being set up; then given the allowed group (if any) and mode 0660
//   directory   /tmp/heapd-UID (Client.privateSocketDirectory): made 0700 when absent; when
//               present it must be a directory (not a link), owned by this user, with no
//               permission for group or others — else heapd refuses to start, since whoever made
//               it could replace the socket and catch the programs clients send
//
// The umask is the process's: `bind` is called once, at start, before any other thread creates
// files.

import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

public enum SocketFileError: Error, CustomStringConvertible, Equatable {
    case cannotCreateDirectory(String, Int32)
    case directoryNotPrivate(String, String)
    case cannotSetGroup(String, gid_t, Int32)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let code):
            "cannot make the socket's directory \(path): \(String(cString: strerror(code)))"
        case .directoryNotPrivate(let path, let reason):
            "the socket's directory \(path) is not private (\(reason)); remove it, or choose another --socket"
        case .cannotSetGroup(let path, let group, let code):
            "cannot give the socket \(path) to group \(group) (allow_group): \(String(cString: strerror(code))); heapd's user must be a member of it"
        }
    }
}

public enum SocketFile {
    /// Binds with `bind` under umask 0177, then opens the file to `group` (mode 0660). When the
    /// group cannot be set, the socket is closed and its file removed.
    static func bind(_ path: String, group: gid_t?, _ bind: () throws -> any Channel) throws -> any Channel {
        let previous = umask(0o177)
        let channel: any Channel
        do {
            channel = try bind()
        } catch {
            umask(previous)
            throw error
        }
        umask(previous)
        if let group, chown(path, uid_t.max, group) != 0 {
            let code = errno
            try? channel.close().wait()
            unlink(path)
            throw SocketFileError.cannotSetGroup(path, group, code)
        }
        chmod(path, 0o660)
        return channel
    }

    /// Makes `path` a directory only `owner` can enter, or checks that it is one.
    public static func makePrivateDirectory(_ path: String, owner: uid_t = getuid()) throws(SocketFileError) {
        if mkdir(path, 0o700) == 0 {
            chmod(path, 0o700)
            return
        }
        let code = errno
        guard code == EEXIST else { throw .cannotCreateDirectory(path, code) }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw .cannotCreateDirectory(path, errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .directoryNotPrivate(path, "it is not a directory") }
        guard info.st_uid == owner else { throw .directoryNotPrivate(path, "it belongs to uid \(info.st_uid), not \(owner)") }
        guard info.st_mode & 0o077 == 0 else {
            throw .directoryNotPrivate(path, "its mode is 0\(String(info.st_mode & 0o777, radix: 8)); it must be 0700")
        }
    }
}
