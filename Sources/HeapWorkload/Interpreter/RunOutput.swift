// RunOutput: what a run keeps of what it prints, bounded, so that a program printing without end
// (`main { while 1 { print 1 } }`, detached in a daemon) cannot fill memory.
//
//   keptBytes == Σ (UTF-8 bytes + 1 for the newline) over the kept lines  ≤  limit
//   once a line does not fit: the marker line is added (it is not counted in keptBytes), and
//   that line and every later one is only counted in `droppedLines` (`truncated` stays true)
//
// A line is kept whole or not at all. Lines are streamed (RunConfiguration.output) as they are
// kept, then the marker once; dropped lines are never streamed either.

struct RunOutput {
    let limit: Int
    private(set) var lines: [String] = []
    private(set) var keptBytes = 0
    private(set) var droppedLines = 0
    private(set) var truncated = false

    init(limit: Int) {
        self.limit = limit
    }

    /// The line that ends a truncated output.
    static func marker(limit: Int) -> String {
        "[output truncated: the run printed more than \(limit) bytes; the lines after this one were dropped]"
    }

    /// Keeps `line` if it fits; returns what to stream: the line, the marker (for the first line
    /// that does not fit), or nil.
    mutating func append(_ line: String) -> String? {
        if truncated {
            droppedLines += 1
            return nil
        }
        let bytes = line.utf8.count + 1
        guard bytes <= limit - keptBytes else {
            truncated = true
            droppedLines = 1
            let marker = RunOutput.marker(limit: limit)
            lines.append(marker)
            return marker
        }
        keptBytes += bytes
        lines.append(line)
        return line
    }

    /// A line the interpreter dropped without formatting it (the output was already truncated).
    mutating func countDropped() {
        droppedLines += 1
    }
}
