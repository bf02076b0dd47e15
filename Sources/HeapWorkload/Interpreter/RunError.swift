// RunError: why a run stopped before its end, with a stable code, a message and the source
// position of the operation that failed.
//
// Codes are part of heapd's interface (the CLI's JSON, the daemon's protocol): never renamed,
// only added to. The first failure of a run is its error; a thread stopped because another
// thread failed reports `cancelled`, which never replaces a first failure.

/// A stable run-time error code.
public enum RunErrorCode: String, Sendable, Codable, CaseIterable {
    case expectFailed = "run.expect-failed"
    case typeError = "run.type-error"
    case noneAccess = "run.none-access"
    case unknownSlot = "run.unknown-slot"
    case indexOutOfRange = "run.index-out-of-range"
    case overflow = "run.overflow"
    case divisionByZero = "run.division-by-zero"
    case zeroStep = "run.zero-step"
    case badArgument = "run.bad-argument"
    case heapLimit = "run.heap-limit"
    case recursionLimit = "run.recursion-limit"
    case stepLimit = "run.step-limit"
    case timeLimit = "run.time-limit"
    case channelClosed = "run.channel-closed"
    /// No longer raised: finalizers run with the world running, so everything is allowed in
    /// them. Kept so that the set of codes only grows.
    case notAllowedInFinalizer = "run.not-allowed-in-finalizer"
    case threadLimit = "run.thread-limit"
    case typeLimit = "run.type-limit"
    case cancelled = "run.cancelled"

    /// A limit of the run's or a cancellation: it stops the run even when raised inside a
    /// finalizer or a weak-reference callback, whose other errors are only warnings.
    var stopsTheRun: Bool {
        switch self {
        case .heapLimit, .stepLimit, .timeLimit, .cancelled: true
        default: false
        }
    }
}

public struct RunError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var code: RunErrorCode
    public var message: String
    public var fileName: String
    public var line: Int
    public var column: Int
    /// The function (or `main`, or `Type.finalize`) that was running.
    public var function: String

    public var description: String {
        "\(fileName):\(line):\(column): error: \(message) [\(code.rawValue)] (in \(function))"
    }
}

/// A failure inside an operation, before the interpreter adds where it happened.
struct Fault: Error {
    let code: RunErrorCode
    let message: String

    init(_ code: RunErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
