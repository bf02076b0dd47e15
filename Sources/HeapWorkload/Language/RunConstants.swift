// RunConstants: the values a run fixes before main starts — every param (its default or the
// run's override), every type's payload size and every global's initial value — computed from
// the constant expressions of a checked program. Also the integer arithmetic of the language,
// which constant folding uses here and which the interpreter must match:
//
//   a / b, a % b   floor division and modulo, as Python's // and %: -7 / 2 == -4, -7 % 2 == 1
//   a << n         an error when n < 0 or when bits are lost (the result must equal a * 2^n)
//   a >> n         an error when n < 0; arithmetic shift (floor of a / 2^n), n >= 64 gives 0 or -1
//   + - * and -a   an error on 64-bit overflow
//   comparisons    1 or 0
//   a and b        a when a is 0, else b;  a or b: a when a is not 0, else b (as Python)
//   not a          1 when a is 0, else 0

/// The constants of one run.
public struct RunConstants: Sendable, Equatable {
    /// Value of each param, indexed as `Program.params`.
    public var params: [Int64]
    /// Payload bytes of each type, indexed as `Program.types` (0 where a type declares none).
    public var payloads: [Int]
    /// Initial value of each global, indexed as `Program.globals`; nil is none.
    public var globals: [Int64?]

    /// The largest payload a type may declare.
    public static let maximumPayload = Int(Int32.max)

    /// Evaluates the constants of a checked `program`, taking the params named in `overrides`
    /// from there instead of their defaults (a param's default is not evaluated when it is
    /// overridden). Errors: E501 for an override naming no param, E413 for a constant that
    /// overflows, divides by zero or gives a payload out of range; the constants are only
    /// meaningful when there are no diagnostics.
    static func evaluate(_ program: Program, overrides: [String: Int64]) -> (constants: RunConstants, diagnostics: [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        let declared = Set(program.params.map(\.name))
        for name in overrides.keys.sorted() where !declared.contains(name) {
            diagnostics.append(Diagnostic(.unknownParamOverride, "the run sets param '\(name)', which the program does not declare", at: .none))
        }
        var constants = RunConstants(params: [], payloads: [], globals: [])
        func evaluate(_ expression: Expression) -> Int64? {
            do {
                return try RunConstants.value(of: expression, params: constants.params)
            } catch {
                diagnostics.append(Diagnostic(.constantEvaluation, error.fault.message, at: error.location))
                return nil
            }
        }
        for param in program.params {
            let value = overrides[param.name] ?? evaluate(param.value) ?? 0
            constants.params.append(value)
        }
        for type in program.types {
            guard let payload = type.payload else {
                constants.payloads.append(0)
                continue
            }
            let bytes = evaluate(payload) ?? 0
            if !(0...Int64(maximumPayload)).contains(bytes) {
                diagnostics.append(Diagnostic(.constantEvaluation, "the payload of type '\(type.name)' must be 0 to \(maximumPayload) bytes, not \(bytes)", at: payload.location))
            }
            constants.payloads.append(Int(clamping: bytes))
        }
        for global in program.globals {
            guard let value = global.initialValue, value.kind != .none else {
                constants.globals.append(nil)
                continue
            }
            let initial = evaluate(value) ?? 0
            constants.globals.append(initial)
        }
        return (constants, diagnostics)
    }

    /// Where a constant expression failed, and how.
    private struct Failure: Error {
        var fault: ArithmeticFault
        var location: SourceLocation
    }

    /// The value of a checked constant expression, with `params` the values of the params it
    /// may use.
    private static func value(of expression: Expression, params: [Int64]) throws(Failure) -> Int64 {
        func run(_ result: Result<Int64, ArithmeticFault>) throws(Failure) -> Int64 {
            switch result {
            case .success(let value): return value
            case .failure(let fault): throw Failure(fault: fault, location: expression.location)
            }
        }
        switch expression.kind {
        case .integer(let value):
            return value
        case .name(let name):
            guard case .param(let index) = name.binding else { preconditionFailure("the checker lets only params into constants") }
            return params[index]
        case .unary(.negate, let operand):
            return try run(BinaryOperator.subtract.apply(0, try value(of: operand, params: params)))
        case .unary(.not, let operand):
            return try value(of: operand, params: params) == 0 ? 1 : 0
        case .binary(let op, let left, let right):
            return try run(op.apply(try value(of: left, params: params), try value(of: right, params: params)))
        case .logical(let op, let left, let right):
            let first = try value(of: left, params: params)
            switch op {
            case .and: return first == 0 ? first : try value(of: right, params: params)
            case .or: return first != 0 ? first : try value(of: right, params: params)
            }
        default:
            preconditionFailure("the checker lets only literals, params and operators into constants")
        }
    }
}

/// Why integer arithmetic has no result.
public enum ArithmeticFault: Error, Sendable, Equatable {
    case overflow
    case divisionByZero
    case negativeShift

    public var message: String {
        switch self {
        case .overflow: "integer overflow (values are 64-bit)"
        case .divisionByZero: "division by zero"
        case .negativeShift: "negative shift count"
        }
    }
}

extension BinaryOperator {
    /// The language's result of `a op b` on integers (see RunConstants.swift for the rules).
    public func apply(_ a: Int64, _ b: Int64) -> Result<Int64, ArithmeticFault> {
        func checked(_ result: (partialValue: Int64, overflow: Bool)) -> Result<Int64, ArithmeticFault> {
            result.overflow ? .failure(.overflow) : .success(result.partialValue)
        }
        switch self {
        case .add: return checked(a.addingReportingOverflow(b))
        case .subtract: return checked(a.subtractingReportingOverflow(b))
        case .multiply: return checked(a.multipliedReportingOverflow(by: b))
        case .divide:
            guard b != 0 else { return .failure(.divisionByZero) }
            guard !(a == .min && b == -1) else { return .failure(.overflow) }
            let quotient = a / b
            return .success(quotient * b != a && (a < 0) != (b < 0) ? quotient - 1 : quotient)
        case .remainder:
            guard b != 0 else { return .failure(.divisionByZero) }
            guard b != -1 else { return .success(0) }
            let remainder = a % b
            return .success(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
        case .shiftLeft:
            guard b >= 0 else { return .failure(.negativeShift) }
            guard a != 0 else { return .success(0) }
            guard b < 64, (a << b) >> b == a else { return .failure(.overflow) }
            return .success(a << b)
        case .shiftRight:
            guard b >= 0 else { return .failure(.negativeShift) }
            return .success(b >= 64 ? (a < 0 ? -1 : 0) : a >> b)
        case .bitAnd: return .success(a & b)
        case .bitOr: return .success(a | b)
        case .bitXor: return .success(a ^ b)
        case .equal: return .success(a == b ? 1 : 0)
        case .notEqual: return .success(a != b ? 1 : 0)
        case .less: return .success(a < b ? 1 : 0)
        case .lessEqual: return .success(a <= b ? 1 : 0)
        case .greater: return .success(a > b ? 1 : 0)
        case .greaterEqual: return .success(a >= b ? 1 : 0)
        }
    }
}
