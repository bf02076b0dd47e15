// Diagnostic: an error found in a workload, with a stable code, a message and a place; and
// DiagnosticList, what the front end throws: every error of one file, rendered for people as
//
//   binary-trees.hw:12:9: error: unknown name 'dpeth' [E301]
//       iters = 1 << (dpeth - d + 4)
//                     ^
//
// Codes are stable (scripts and tests match on them) and grouped by the phase that finds them:
//   E1xx  lexer: characters, strings, integer literals
//   E2xx  parser: syntax, nesting, recovery
//   E3xx  checker: names and declarations
//   E4xx  checker: how names, builtins, params and statements are used
//   E5xx  run constants: `--param` overrides
// docs/language.md lists every code with an example; a test checks that every code is there.

/// The stable code of each diagnostic the front end can produce.
public enum DiagnosticCode: String, Sendable, CaseIterable {
    case unexpectedCharacter = "E101"
    case invalidUTF8 = "E102"
    case unterminatedString = "E103"
    case invalidEscape = "E104"
    case invalidInteger = "E105"
    case integerTooLarge = "E106"

    case unexpectedToken = "E201"
    case expectedExpression = "E202"
    case unclosedBlock = "E203"
    case nestingTooDeep = "E204"
    case chainedComparison = "E205"
    case misplacedString = "E206"
    case invalidAssignmentTarget = "E207"
    case statementWithoutEffect = "E208"
    case missingSeparator = "E209"
    case duplicateMain = "E210"
    case duplicateTypeItem = "E211"
    case notCallable = "E212"
    case rangeArguments = "E213"
    case tooManyErrors = "E299"

    case unknownName = "E301"
    case unknownFunction = "E302"
    case unknownType = "E303"
    case unknownSlot = "E304"
    case slotNotInType = "E305"
    case duplicateDeclaration = "E306"
    case duplicateParameter = "E307"
    case duplicateSlot = "E308"
    case reservedName = "E309"
    case missingMain = "E310"
    case unknownGCFunction = "E311"
    case usedBeforeAssignment = "E312"
    case tooManyTypes = "E313"

    case functionArity = "E401"
    case builtinArity = "E402"
    case assignmentToParam = "E403"
    case selfOutsideFinalizer = "E404"
    case loopControlOutsideLoop = "E405"
    case returnValueNotAllowed = "E406"
    case invalidWeakCallback = "E407"
    case invalidSpawnTarget = "E408"
    case notAValue = "E409"
    case builtinWithoutValue = "E410"
    case notAFunction = "E411"
    case notConstant = "E412"
    case constantEvaluation = "E413"
    case assignmentToDeclaration = "E414"

    case unknownParamOverride = "E501"

    /// Found by the lexer or the parser (E1xx, E2xx): the text is not a program. E299 (too
    /// many errors) is not: it ends a list of any phase.
    public var isSyntax: Bool {
        self != .tooManyErrors && (rawValue.hasPrefix("E1") || rawValue.hasPrefix("E2"))
    }

    /// One line on what the code means (docs/language.md gives the same text and an example).
    public var summary: String {
        switch self {
        case .unexpectedCharacter: "a character that starts no token"
        case .invalidUTF8: "bytes that are not UTF-8"
        case .unterminatedString: "a string literal with no closing quote on its line"
        case .invalidEscape: "an escape other than \\n \\t \\\\ \\\" in a string"
        case .invalidInteger: "a malformed integer literal"
        case .integerTooLarge: "an integer literal that does not fit in 64 bits"
        case .unexpectedToken: "a token where the grammar expects another"
        case .expectedExpression: "no expression where one is needed"
        case .unclosedBlock: "a '{' that is never closed"
        case .nestingTooDeep: "blocks or expressions nested more than 200 deep"
        case .chainedComparison: "a comparison used as an operand of another comparison"
        case .misplacedString: "a string literal outside print, phase and expect"
        case .invalidAssignmentTarget: "an assignment to something that is not a name, slot or element"
        case .statementWithoutEffect: "an expression statement that is not a call"
        case .missingSeparator: "two statements with no newline or ';' between them"
        case .duplicateMain: "a second main block"
        case .duplicateTypeItem: "a second payload or finalize in one type"
        case .notCallable: "a call of something other than a function name"
        case .rangeArguments: "range() with other than 1 to 3 arguments"
        case .tooManyErrors: "the error limit was reached; later errors are not reported"
        case .unknownName: "a name that is declared nowhere"
        case .unknownFunction: "a call of a function that is declared nowhere"
        case .unknownType: "'new' of a type that is not declared"
        case .unknownSlot: "a slot name that no type declares"
        case .slotNotInType: "a slot that the statically known type lacks"
        case .duplicateDeclaration: "a name declared twice at top level, or a function parameter named like a top-level declaration"
        case .duplicateParameter: "two parameters of one function with the same name"
        case .duplicateSlot: "two slots of one type with the same name"
        case .reservedName: "a declaration or variable named like a builtin"
        case .missingMain: "no main block"
        case .unknownGCFunction: "a gc.name that is not one of the gc builtins"
        case .usedBeforeAssignment: "a local read before its first assignment"
        case .tooManyTypes: "more type declarations than a program may have (Program.maximumTypes)"
        case .functionArity: "a call or spawn of a function with the wrong number of arguments"
        case .builtinArity: "a builtin called with the wrong number of arguments"
        case .assignmentToParam: "an assignment to, or del of, a param"
        case .selfOutsideFinalizer: "'self' outside a finalize block"
        case .loopControlOutsideLoop: "break or continue outside a loop"
        case .returnValueNotAllowed: "return with a value in main or a finalizer"
        case .invalidWeakCallback: "a weak() callback that is not a function of one parameter"
        case .invalidSpawnTarget: "spawn of something other than a user function"
        case .notAValue: "a function, type or builtin used as a value"
        case .builtinWithoutValue: "a builtin that returns nothing used as a value"
        case .notAFunction: "a call of a variable, param, global or type"
        case .notConstant: "a non-constant expression where a constant is needed"
        case .constantEvaluation: "a constant expression that overflows, divides by zero or is out of range"
        case .assignmentToDeclaration: "an assignment to, or del of, a function or type name"
        case .unknownParamOverride: "a run override for a param the program does not declare"
        }
    }
}

/// One error: what (code and message) and where.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public var code: DiagnosticCode
    public var message: String
    public var location: SourceLocation

    public init(_ code: DiagnosticCode, _ message: String, at location: SourceLocation) {
        self.code = code
        self.message = message
        self.location = location
    }

    /// `line:col: error: message [Ennn]` with no file name and no source line.
    public var description: String { "\(location): error: \(message) [\(code.rawValue)]" }

    /// The diagnostic as a compiler prints it: `file:line:col: error: message [Ennn]`, then the
    /// source line and a caret under the column. Lines longer than `Diagnostic.lineWindow`
    /// columns are cut to a window around the caret, with `...` where text was cut.
    public func rendered(fileName: String, source: SourceText) -> String {
        guard location != .none else { return "\(fileName): error: \(message) [\(code.rawValue)]" }
        let header = "\(fileName):\(location.line):\(location.column): error: \(message) [\(code.rawValue)]"
        guard location.line >= 1 && location.line <= source.lineCount else { return header }
        let units = source.lineUnits(location.line)
        let caretIndex = max(0, location.column - 1)
        var start = 0
        var end = units.count
        if units.count > Diagnostic.lineWindow {
            start = max(0, min(caretIndex - Diagnostic.lineWindow / 2, units.count - Diagnostic.lineWindow))
            end = start + Diagnostic.lineWindow
        }
        var text = String.UnicodeScalarView()
        var caret = String.UnicodeScalarView()
        if start > 0 {
            text.append(contentsOf: "...".unicodeScalars)
            caret.append(contentsOf: "   ".unicodeScalars)
        }
        for index in start..<end {
            let scalar = units[index].scalar ?? "\u{FFFD}"
            text.append(scalar)
            if index < caretIndex { caret.append(scalar == "\t" ? "\t" : " ") }
        }
        if end < units.count { text.append(contentsOf: "...".unicodeScalars) }
        if caretIndex > end { caret.append(contentsOf: String(repeating: " ", count: caretIndex - end).unicodeScalars) }
        caret.append("^")
        return header + "\n" + String(text) + "\n" + String(caret)
    }

    /// The widest source line, in columns, that `rendered` quotes whole.
    public static let lineWindow = 160
}

/// What the front end throws: all diagnostics of one file, in source order, with what it takes
/// to render them.
public struct DiagnosticList: Error, Sendable, CustomStringConvertible {
    public let fileName: String
    public let source: SourceText
    public let diagnostics: [Diagnostic]

    /// Most errors reported for one file; beyond it one E299 says that reporting stopped.
    public static let limit = 20

    /// Sorts `diagnostics` by place (keeping the order of those at one place) and cuts them at
    /// `limit`, adding E299 when some were dropped or a phase stopped early (`stopped`).
    init(fileName: String, source: SourceText, diagnostics: [Diagnostic], stopped: Bool = false) {
        self.fileName = fileName
        self.source = source
        let sorted = diagnostics.enumerated()
            .sorted { ($0.element.location, $0.offset) < ($1.element.location, $1.offset) }
            .map(\.element)
        guard sorted.count > DiagnosticList.limit || stopped, let last = sorted.prefix(DiagnosticList.limit).last else {
            self.diagnostics = sorted
            return
        }
        self.diagnostics = Array(sorted.prefix(DiagnosticList.limit)) + [Diagnostic(
            .tooManyErrors, "too many errors; stopped after \(DiagnosticList.limit)", at: last.location)]
    }

    /// The text did not parse (lexer or parser errors), rather than parsed and failed the
    /// checker or its constants. The checker runs only on a program that parsed, so a list holds
    /// the errors of one phase; E299 may end either.
    public var isSyntaxError: Bool {
        diagnostics.contains { $0.code.isSyntax }
    }

    /// Every diagnostic rendered (see `Diagnostic.rendered`), one after another.
    public func rendered() -> String {
        diagnostics.map { $0.rendered(fileName: fileName, source: source) }.joined(separator: "\n")
    }

    public var description: String { rendered() }
}
