// Reporting misuse of heapd's public API.
//
// `precondition` drops its message in -O builds, and a user who frees a pointer twice in a release
// build deserves to read what went wrong. These stop the process in every build and print the
// message (fatalError's), which names the operation and the pointer.

/// Stops the process: the program misused heapd's API as `message` says.
@inline(never)
func misuse(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(message, file: file, line: line)
}

/// Stops the process with `message` unless `condition` holds: an always-on, always-worded check of
/// public API use.
@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { misuse(message(), file: file, line: line) }
}
