// Builtin: the functions the language provides, with how many arguments each takes and whether
// it returns a value. The checker resolves a call to a builtin when no user function has the
// name (user functions may not take builtin names: E309), and the compiler emits one operation
// per builtin.
//
//   builtin               arguments   value
//   len(a)                1           element count of array a
//   weak(x [, callback])  1...2       a weak reference to x; callback: fn of 1 parameter, called
//                                     with the weak reference when x dies
//   deref(w)              1           the object w refers to, or none once it is dead
//   refcount(x)           1           x's reference count (a local holding x counts 1; passing x
//                                     to refcount adds nothing)
//   rand(n)               1           a number in 0..<n from the run's seeded generator
//   channel(capacity)     1           a new channel holding up to capacity values
//   send(ch, x)           2           none  (blocks while ch is full)
//   recv(ch)              1           the next value (blocks while ch is empty; none once ch is
//                                     closed and empty)
//   close(ch)             1           none
//   join(t)               1           waits for thread t; the value its function returned
//   gc.collect([gen])     0...1       collects generation gen (default 2); the number of
//                                     unreachable objects found
//   gc.enable()           0           none
//   gc.disable()          0           none
//   gc.isenabled()        0           1 when automatic collection is on, else 0
//   gc.freeze()           0           none  (moves every tracked object to the permanent generation)
//   gc.unfreeze()         0           none
//   gc.set_threshold(a [, b [, c]])  1...3   none
//   gc.get_count(gen)     1           the count of generation gen
//   gc.get_threshold(gen) 1           the threshold of generation gen
//   gc.is_tracked(x)      1           1 when the collector tracks x, else 0
//   gc.is_finalized(x)    1           1 when x's finalizer has run, else 0
//   gc.trace(on)          1           none  (allocation-site tracing on when on != 0, off when 0)
//
// A builtin that returns nothing may only be called as a statement (E410 otherwise).

/// A builtin function; the raw value is its spelling in source.
public enum Builtin: String, Sendable, Equatable, CaseIterable {
    case len, weak, deref, refcount, rand, channel, send, recv, close, join
    case gcCollect = "gc.collect"
    case gcEnable = "gc.enable"
    case gcDisable = "gc.disable"
    case gcIsEnabled = "gc.isenabled"
    case gcFreeze = "gc.freeze"
    case gcUnfreeze = "gc.unfreeze"
    case gcSetThreshold = "gc.set_threshold"
    case gcGetCount = "gc.get_count"
    case gcGetThreshold = "gc.get_threshold"
    case gcIsTracked = "gc.is_tracked"
    case gcIsFinalized = "gc.is_finalized"
    case gcTrace = "gc.trace"

    /// How many arguments a call may pass.
    public var arity: ClosedRange<Int> {
        switch self {
        case .gcEnable, .gcDisable, .gcIsEnabled, .gcFreeze, .gcUnfreeze: 0...0
        case .gcCollect: 0...1
        case .weak: 1...2
        case .send: 2...2
        case .gcSetThreshold: 1...3
        case .len, .deref, .refcount, .rand, .channel, .recv, .close, .join,
             .gcGetCount, .gcGetThreshold, .gcIsTracked, .gcIsFinalized, .gcTrace: 1...1
        }
    }

    /// False for the builtins that only act (`send`, `close`, `gc.enable`, ...): they may only be
    /// called as statements.
    public var producesValue: Bool {
        switch self {
        case .send, .close, .gcEnable, .gcDisable, .gcFreeze, .gcUnfreeze, .gcSetThreshold, .gcTrace: false
        default: true
        }
    }

    /// Names a program may not declare or assign: every builtin outside `gc.`, plus `gc` itself
    /// and `range` (which only `for` uses).
    static let reservedNames: Set<String> = Set(allCases.map(\.rawValue).filter { !$0.contains(".") } + ["gc", "range"])

    /// `"1 argument"`, `"1 to 3 arguments"`: how messages state an arity.
    static func describe(arity: ClosedRange<Int>) -> String {
        let count = arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)"
        return count + (arity == 1...1 ? " argument" : " arguments")
    }
}
