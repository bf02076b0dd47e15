// CheckedProgram: the front end's product and its front door. `Program.parse` runs the lexer,
// the parser and, when the syntax is clean, the checker; it returns a CheckedProgram or throws
// a DiagnosticList holding every error found (at most `DiagnosticList.limit`, in source order).
//
//   bytes --Lexer--> tokens --Parser--> Program (unresolved) --Checker--> CheckedProgram
//                    E1xx              E2xx                      E3xx, E4xx, E413
//
// The checker runs only on a program without syntax errors: a tree patched up by recovery would
// mostly yield errors that are echoes of the syntax errors.

/// A program that parsed and checked cleanly: every name, call, slot and type in `program` is
/// resolved, every body lists its locals, and the constants evaluate with the param defaults.
public struct CheckedProgram: Sendable {
    public let program: Program
    /// The source, kept to render diagnostics found later (bad overrides, run-time errors).
    public let source: SourceText
    /// The run constants with every param at its default.
    public let defaultConstants: RunConstants

    /// The run constants with the params named in `overrides` set (`--param depth=21`).
    /// Throws E501 for an unknown param name and E413 when a constant that depends on an
    /// overridden param overflows, divides by zero or gives a payload out of range.
    public func constants(overrides: [String: Int64]) throws(DiagnosticList) -> RunConstants {
        let evaluated = RunConstants.evaluate(program, overrides: overrides)
        guard evaluated.diagnostics.isEmpty else {
            throw DiagnosticList(fileName: program.fileName, source: source, diagnostics: evaluated.diagnostics)
        }
        return evaluated.constants
    }
}

extension Program {
    /// Parses and checks a workload.
    public static func parse(source: String, fileName: String) throws(DiagnosticList) -> CheckedProgram {
        try parse(SourceText(source), fileName: fileName)
    }

    /// Parses and checks a workload read as raw bytes (bytes that are not UTF-8 are E102).
    public static func parse(bytes: [UInt8], fileName: String) throws(DiagnosticList) -> CheckedProgram {
        try parse(SourceText(bytes: bytes), fileName: fileName)
    }

    /// Parses a workload without checking it: the tree has no resolutions (see Syntax.swift).
    public static func parseSyntax(source: String, fileName: String) throws(DiagnosticList) -> Program {
        try parseSyntax(SourceText(source), fileName: fileName)
    }

    private static func parse(_ source: SourceText, fileName: String) throws(DiagnosticList) -> CheckedProgram {
        let parsed = try parseSyntax(source, fileName: fileName)
        let (program, diagnostics, defaults) = Checker.check(parsed)
        guard let defaults, diagnostics.isEmpty else {
            throw DiagnosticList(fileName: fileName, source: source, diagnostics: diagnostics)
        }
        return CheckedProgram(program: program, source: source, defaultConstants: defaults)
    }

    private static func parseSyntax(_ source: SourceText, fileName: String) throws(DiagnosticList) -> Program {
        let lexed = Lexer.tokenize(source)
        let parsed = Parser.parse(lexed.tokens, fileName: fileName)
        let diagnostics = lexed.diagnostics + parsed.diagnostics
        guard diagnostics.isEmpty else {
            throw DiagnosticList(fileName: fileName, source: source, diagnostics: diagnostics, stopped: lexed.stopped || parsed.stopped)
        }
        return parsed.program
    }
}
