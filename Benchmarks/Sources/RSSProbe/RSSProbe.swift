// The probe's steps; see main.swift for what each measures.

import BenchmarkSupport
import Glibc
import HeapCore

// glibc's malloc_trim lives in <malloc.h>, which Swift's Glibc module does not export. It takes a
// size_t and returns an int, integer registers in both calling conventions.
@_silgen_name("malloc_trim")
func mallocTrim(_ pad: Int) -> Int32

enum BlockSizes {
    case fixed(Int)
    /// 16...512 bytes, uniform, from a fixed-seed linear congruential generator.
    case mixed
}

enum RSSProbe {
    static let requestedTotal = 1 << 30

    static func run(allocatorName: String, sizes: BlockSizes) {
        if allocatorName == "heapd" {
            let allocator = Allocator(configuration: AllocatorConfiguration())
            let blocks = HeapdBlocks(allocator)
            measure(blocks, sizes: sizes) {
                allocator.collect()
                report("after collect()", detail: heapdDetail(allocator))
                allocator.detachCurrentThread()
                allocator.collect()
                report("after detach + collect()", detail: heapdDetail(allocator))
            } peakDetail: {
                heapdDetail(allocator)
            }
        } else {
            measure(GlibcBlocks(), sizes: sizes) {
                report("after malloc_trim(0)", detail: "malloc_trim returned \(mallocTrim(0))")
            } peakDetail: {
                ""
            }
        }
    }

    private static func measure<A: BlockAllocator>(_ allocator: A, sizes: BlockSizes, release: () -> Void, peakDetail: () -> String) {
        allocator.enterThread()
        print("RSSProbe \(allocator.name), \(sizes), 1 GiB requested")
        report("start", detail: "")

        var generator: UInt64 = 0x2545_F491_4F6C_DD1D
        var requested = 0
        var blockCount = 0
        let first = allocator.allocate(64)
        var last = first
        requested += 64
        while requested < requestedTotal {
            let byteCount: Int
            switch sizes {
            case .fixed(let size):
                byteCount = size
            case .mixed:
                generator = generator &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                byteCount = 16 + Int(truncatingIfNeeded: (generator >> 33) % 497)
            }
            let block = allocator.allocate(byteCount)
            last.storeBytes(of: block, as: UnsafeMutableRawPointer?.self)
            last = block
            requested += byteCount
            blockCount += 1
        }
        last.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        report("peak", detail: "\(blockCount + 1) blocks, VmHWM \(mebibytes(highWaterMark())) MiB   \(peakDetail())")

        var next: UnsafeMutableRawPointer? = first
        while let block = next {
            next = block.load(as: UnsafeMutableRawPointer?.self)
            allocator.deallocate(block)
        }
        report("freed", detail: "")
        release()
    }

    private static func report(_ step: String, detail: String) {
        let padded = step.padding(toLength: 26)
        print("  \(padded) RSS \(mebibytes(Allocator.residentBytes())) MiB   \(detail)")
    }

    private static func heapdDetail(_ allocator: Allocator) -> String {
        let statistics = allocator.statistics()
        return "live \(mebibytes(statistics.liveBytes)) MiB, committed \(mebibytes(statistics.committedBytes)) MiB, "
            + "arenas \(statistics.arenas), released \(statistics.arenasReleased)"
    }

    private static func mebibytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// The kernel's peak RSS for this process (VmHWM in /proc/self/status), in bytes.
    private static func highWaterMark() -> Int {
        guard let file = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("VmHWM:") {
                let kibibytes = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
                return kibibytes * 1024
            }
        }
        return 0
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
