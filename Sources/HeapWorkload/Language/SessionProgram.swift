// SessionProgram: a program written one piece at a time — the shell's, sent to heapd with `exec`.
// A piece is one declaration (`type`, `fn`, `global`, `param`: its first word says so) or
// statements. The program is every declaration in the order it came, then `main` with every
// statement in the order it came:
//
//   pieces  "x = new [3]", "fn f(a) { return a }", "print f(1)"
//   source  fn f(a) { return a }
//           main {
//           x = new [3]
//           print f(1)
//           }
//
// So a statement's variables persist into later pieces (they are locals of the one `main`), and a
// function declared later can be called by statements that come after it. The text is kept as
// sent (trimmed); whether it parses is Program.parse's to say.

/// The pieces of a session program, and its source.
public struct SessionProgram: Sendable, Equatable {
    public private(set) var declarations: [String] = []
    public private(set) var statements: [String] = []

    public init() {}

    public var pieceCount: Int { declarations.count + statements.count }

    /// Adds `piece`, trimmed of surrounding white space, as a declaration or as statements.
    public mutating func add(_ piece: String) {
        let trimmed = SessionProgram.trimmed(piece)
        if SessionProgram.isDeclaration(trimmed) { declarations.append(trimmed) } else { statements.append(trimmed) }
    }

    /// The whole program.
    public var source: String {
        declarations.joined(separator: "\n") + "\nmain {\n" + statements.joined(separator: "\n") + "\n}\n"
    }

    /// `piece` as it is kept: without the white space around it.
    public static func trimmed(_ piece: String) -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        return String(piece.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    /// Whether `piece` (trimmed) is a top-level declaration: its first word is `type`, `fn`,
    /// `global` or `param`. (`main` is the session's own.)
    public static func isDeclaration(_ piece: String) -> Bool {
        let word = String(piece.prefix { !$0.isWhitespace })
        guard let keyword = Keyword.byName[word] else { return false }
        return keyword.beginsDeclaration && keyword != .main
    }
}
