// SplitMix64: the fuzzers' random numbers. Every choice a generator or mutator makes comes from
// here, through the helpers below (never through the standard library's `random(in:using:)`,
// whose algorithm may change between toolchains), so that one seed gives the same program on
// every machine and every Swift version.

/// Steele, Lea and Flood's SplitMix64 (the generator `java.util.SplittableRandom` uses): a 64-bit
/// counter stepped by the golden ratio and mixed. Not cryptographic; fast and well distributed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0 ..< bound (bound > 0). The modulo bias is below 2^-40 for the bounds used here.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(\(bound)): the bound must be positive")
        return Int(next() % UInt64(bound))
    }

    /// A number in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + below(range.upperBound - range.lowerBound + 1)
    }

    /// True `percent` times in 100.
    public mutating func chance(_ percent: Int) -> Bool {
        below(100) < percent
    }

    /// One element of a non-empty array.
    public mutating func pick<T>(_ choices: [T]) -> T {
        choices[below(choices.count)]
    }

    /// The elements of `choices` in a random order (Fisher–Yates).
    public mutating func shuffled<T>(_ choices: [T]) -> [T] {
        var result = choices
        for index in stride(from: result.count - 1, to: 0, by: -1) {
            result.swapAt(index, below(index + 1))
        }
        return result
    }

    /// The seed of the `index`th item of a campaign started from `seed`: far apart for neighbouring
    /// indices, the same on every machine.
    public static func derive(_ seed: UInt64, _ index: UInt64) -> UInt64 {
        var generator = SplitMix64(seed: seed ^ (index &* 0xD1B5_4A32_D192_ED03))
        return generator.next()
    }
}
