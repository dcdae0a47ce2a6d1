import Foundation
import Safetensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Summary statistics of one tensor, over its finite elements.
public struct TensorSummary: Sendable, Hashable, Codable {
    /// Elements in the tensor.
    public var count: Int
    /// Mean of the finite elements.
    public var mean: Double?
    /// Population standard deviation (divisor n, like numpy's default) of the finite elements.
    public var std: Double?
    public var min: Double?
    public var max: Double?
    /// NaN and infinite elements (excluded from the statistics above).
    public var nonFinite: Int

    enum CodingKeys: String, CodingKey {
        case count, mean, std, min, max
        case nonFinite = "non_finite"
    }
}

/// One tensor present (under the same file and name) in both versions of a diff.
public struct TensorComparison: Sendable, Hashable, Codable {
    /// The safetensors file, relative to the version folder.
    public var file: String
    public var name: String
    public var dtypeA: String
    public var dtypeB: String
    public var shapeA: [Int]
    public var shapeB: [Int]
    public var a: TensorSummary?
    public var b: TensorSummary?
    /// Largest |a - b| over elements finite on both sides (same shape only).
    public var maxAbsDiff: Double?
    /// Euclidean norm of a - b over elements finite on both sides (same shape only).
    public var l2Diff: Double?
    /// Why the element-wise difference is missing (shapes differ, non-numeric, unreadable).
    public var note: String?

    enum CodingKeys: String, CodingKey {
        case file, name, a, b, note
        case dtypeA = "dtype_a", dtypeB = "dtype_b", shapeA = "shape_a", shapeB = "shape_b"
        case maxAbsDiff = "max_abs_diff", l2Diff = "l2_diff"
    }
}

/// Running moments with a shift (the first finite value) for numerical stability.
private struct Moments {
    var count = 0
    var finite = 0
    var shift = 0.0
    var sum = 0.0
    var sumSquares = 0.0
    var minimum = Double.infinity
    var maximum = -Double.infinity

    @inline(__always) mutating func add(_ x: Double) {
        count += 1
        guard x.isFinite else { return }
        if finite == 0 { shift = x }
        finite += 1
        let d = x - shift
        sum += d
        sumSquares += d * d
        if x < minimum { minimum = x }
        if x > maximum { maximum = x }
    }

    var summary: TensorSummary {
        guard finite > 0 else { return TensorSummary(count: count, mean: nil, std: nil, min: nil, max: nil, nonFinite: count) }
        let n = Double(finite)
        let mean = sum / n
        let variance = Swift.max(0, sumSquares / n - mean * mean)
        return TensorSummary(count: count, mean: shift + mean, std: variance.squareRoot(), min: minimum, max: maximum, nonFinite: count - finite)
    }
}

/// Reads tensor elements from a safetensors file in bounded chunks, converting them to `Double`.
private final class TensorElementReader {
    private let fd: Int32
    private let path: String
    private let raw: UnsafeMutableRawBufferPointer
    let values: UnsafeMutableBufferPointer<Double>
    static let chunkElements = 1 << 16

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw CheckpointError.lastOS("open", path: path) }
        raw = .allocate(byteCount: Self.chunkElements * 8, alignment: 16)
        values = .allocate(capacity: Self.chunkElements)
    }

    deinit {
        close(fd)
        raw.deallocate()
        values.deallocate()
    }

    /// Reads elements `first ..< first + count` (count <= chunkElements) of a tensor into ``values``.
    func read(_ info: SafetensorsTensorInfo, dataStart: Int, first: Int, count: Int) throws {
        let size = info.dtype.size
        let byteCount = count * size
        var done = 0
        let offset = dataStart + info.dataOffsets.lowerBound + first * size
        while done < byteCount {
            let n = pread(fd, raw.baseAddress! + done, byteCount - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.lastOS("read", path: path)
            }
            if n == 0 { throw CheckpointError(.corruptVersion, "\(path) ended inside tensor '\(info.name)'", remedy: "Verify the version", path: path) }
            done += n
        }
        let source = UnsafeRawBufferPointer(raw)
        let out = values
        switch info.dtype {
        case .f32: for i in 0..<count { out[i] = Double(Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))) }
        case .f64: for i in 0..<count { out[i] = Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
        case .f16: for i in 0..<count { out[i] = halfToDouble(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .bf16: for i in 0..<count { out[i] = Double(Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)) }
        case .bool, .u8: for i in 0..<count { out[i] = Double(source[i]) }
        case .i8: for i in 0..<count { out[i] = Double(Int8(bitPattern: source[i])) }
        case .u16: for i in 0..<count { out[i] = Double(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .i16: for i in 0..<count { out[i] = Double(Int16(littleEndian: source.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) }
        case .u32: for i in 0..<count { out[i] = Double(UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        case .i32: for i in 0..<count { out[i] = Double(Int32(littleEndian: source.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
        case .u64: for i in 0..<count { out[i] = Double(UInt64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
        case .i64: for i in 0..<count { out[i] = Double(Int64(littleEndian: source.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
        }
    }
}

/// IEEE 754 half precision to double.
func halfToDouble(_ h: UInt16) -> Double {
    let negative = h & 0x8000 != 0
    let exponent = Int((h >> 10) & 0x1F)
    let fraction = Double(h & 0x3FF)
    let magnitude: Double
    switch exponent {
    case 0: magnitude = fraction * 0x1p-24
    case 31: magnitude = fraction == 0 ? .infinity : .nan
    default: magnitude = (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }
    return negative ? -magnitude : magnitude
}

/// Compares the tensors of one safetensors file in two versions: statistics of each tensor
/// present in both, element-wise differences where shapes match. Memory stays bounded (chunks).
/// `identical` (same SHA-256) skips reading the second file.
func compareSafetensors(file: String, pathA: String, pathB: String, identical: Bool) throws
    -> (comparisons: [TensorComparison], onlyInA: [String], onlyInB: [String]) {
    let headerA: SafetensorsHeader, headerB: SafetensorsHeader
    do {
        headerA = try SafetensorsHeader.read(path: pathA)
        headerB = identical ? headerA : try SafetensorsHeader.read(path: pathB)
    } catch let error as SafetensorsError {
        throw CheckpointError(.corruptVersion, "cannot compare \(file): \(error.description)", remedy: "Verify both versions", path: pathA)
    }
    let namesA = Set(headerA.tensors.map(\.name)), namesB = Set(headerB.tensors.map(\.name))
    let readerA = try TensorElementReader(path: pathA)
    let readerB = identical ? readerA : try TensorElementReader(path: pathB)
    var comparisons: [TensorComparison] = []
    for infoA in headerA.tensors where namesB.contains(infoA.name) {
        let infoB = headerB.info(infoA.name)!
        var comparison = TensorComparison(file: file, name: infoA.name, dtypeA: infoA.dtype.rawValue, dtypeB: infoB.dtype.rawValue,
                                          shapeA: infoA.shape, shapeB: infoB.shape)
        var momentsA = Moments(), momentsB = Moments()
        let sameShape = infoA.shape == infoB.shape
        var maxAbs = 0.0, squares = 0.0
        if sameShape {
            var first = 0
            while first < infoA.elementCount {
                let count = min(TensorElementReader.chunkElements, infoA.elementCount - first)
                try readerA.read(infoA, dataStart: headerA.dataStart, first: first, count: count)
                if identical {
                    for i in 0..<count { momentsA.add(readerA.values[i]) }
                } else {
                    try readerB.read(infoB, dataStart: headerB.dataStart, first: first, count: count)
                    for i in 0..<count {
                        let x = readerA.values[i], y = readerB.values[i]
                        momentsA.add(x)
                        momentsB.add(y)
                        let d = x - y
                        if d.isFinite {
                            let m = abs(d)
                            if m > maxAbs { maxAbs = m }
                            squares += d * d
                        }
                    }
                }
                first += count
            }
            if identical { momentsB = momentsA }
            comparison.maxAbsDiff = maxAbs
            comparison.l2Diff = squares.squareRoot()
        } else {
            for (reader, info, start, isA) in [(readerA, infoA, headerA.dataStart, true), (readerB, infoB, headerB.dataStart, false)] {
                var first = 0
                while first < info.elementCount {
                    let count = min(TensorElementReader.chunkElements, info.elementCount - first)
                    try reader.read(info, dataStart: start, first: first, count: count)
                    for i in 0..<count {
                        if isA { momentsA.add(reader.values[i]) } else { momentsB.add(reader.values[i]) }
                    }
                    first += count
                }
            }
            comparison.note = "shapes differ: no element-wise difference"
        }
        comparison.a = momentsA.summary
        comparison.b = momentsB.summary
        comparisons.append(comparison)
    }
    let onlyInA = headerA.tensors.map(\.name).filter { !namesB.contains($0) }.map { "\(file):\($0)" }
    let onlyInB = headerB.tensors.map(\.name).filter { !namesA.contains($0) }.map { "\(file):\($0)" }
    return (comparisons, onlyInA, onlyInB)
}
