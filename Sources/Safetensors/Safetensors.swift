import Foundation

/// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors).
///
/// Layout: an 8-byte little-endian header length `N`, then `N` bytes of UTF-8 JSON
/// (`{"__metadata__":{...}, "name":{"dtype":"F32","shape":[..],"data_offsets":[begin,end]}, ...}`),
/// then the raw little-endian tensor bytes. Files written here load with
/// `safetensors.numpy.load_file` in Python.

/// Element types of the format.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16", f16 = "F16", bf16 = "BF16"
    case u32 = "U32", i32 = "I32", f32 = "F32", u64 = "U64", i64 = "I64", f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8: 1
        case .u16, .i16, .f16, .bf16: 2
        case .u32, .i32, .f32: 4
        case .u64, .i64, .f64: 8
        }
    }
}

/// What went wrong reading or writing a safetensors file.
public struct SafetensorsError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Where one tensor sits in a file.
public struct SafetensorsTensorInfo: Sendable, Hashable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range relative to the start of the data section.
    public var dataOffsets: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Builds a safetensors file in memory from named tensors.
public struct SafetensorsWriter: Sendable {
    private var entries: [(info: SafetensorsTensorInfo, bytes: [UInt8])] = []
    private var names: Set<String> = []
    private var dataSize = 0
    /// Free-form string metadata stored under `__metadata__`.
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds a tensor from its raw little-endian bytes.
    /// - Throws: ``SafetensorsError`` when the name is taken or the byte count does not match the shape.
    public mutating func add(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws {
        guard !name.isEmpty, name != "__metadata__" else { throw SafetensorsError("invalid tensor name '\(name)'") }
        guard !names.contains(name) else { throw SafetensorsError("tensor '\(name)' added twice") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw SafetensorsError("tensor '\(name)' has a negative dimension: \(shape)") }
        let expected = shape.reduce(1, *) * dtype.size
        guard expected == bytes.count else {
            throw SafetensorsError("tensor '\(name)': shape \(shape) of \(dtype.rawValue) needs \(expected) bytes, got \(bytes.count)")
        }
        names.insert(name)
        entries.append((SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: dataSize..<(dataSize + bytes.count)), bytes))
        dataSize += bytes.count
    }

    /// Adds a `Float` tensor (`F32`).
    public mutating func add(name: String, shape: [Int], floats: [Float]) throws {
        try add(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// Adds an `Int32` tensor (`I32`).
    public mutating func add(name: String, shape: [Int], int32s: [Int32]) throws {
        try add(name: name, dtype: .i32, shape: shape, bytes: int32s.withUnsafeBytes { Array($0) })
    }

    /// Adds an `Int64` tensor (`I64`).
    public mutating func add(name: String, shape: [Int], int64s: [Int64]) throws {
        try add(name: name, dtype: .i64, shape: shape, bytes: int64s.withUnsafeBytes { Array($0) })
    }

    /// Adds a `UInt8` tensor (`U8`), e.g. an opaque blob.
    public mutating func add(name: String, shape: [Int], uint8s: [UInt8]) throws {
        try add(name: name, dtype: .u8, shape: shape, bytes: uint8s)
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    func headerBytes() -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        for (info, _) in entries {
            if !first { json += "," }
            first = false
            json += "\(jsonString(info.name)):{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":[\(info.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}"
        }
        json += "}"
        var bytes = Array(json.utf8)
        while (bytes.count + 8) % 8 != 0 { bytes.append(0x20) }
        return bytes
    }

    /// The whole file.
    public func serialized() -> [UInt8] {
        let header = headerBytes()
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + dataSize)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for (_, bytes) in entries { out.append(contentsOf: bytes) }
        return out
    }

    /// Writes the file to `path` (created or truncated with `mode`), optionally fsyncing it.
    /// - Throws: ``SafetensorsError`` naming the path and the OS error.
    public func write(toPath path: String, mode: mode_t = 0o640, fsync syncToDisk: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SafetensorsError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SafetensorsError("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        let header = headerBytes()
        try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try writeAll($0) }
        try header.withUnsafeBytes { try writeAll($0) }
        for (_, bytes) in entries where !bytes.isEmpty { try bytes.withUnsafeBytes { try writeAll($0) } }
        if syncToDisk, fsync(fd) != 0 {
            throw SafetensorsError("cannot fsync \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// A parsed safetensors file held in memory.
///
/// Parsing validates the header before trusting it: the header length, every
/// dtype, shape and offset is checked against the real file size, so a malformed
/// or hostile file is refused with an error instead of a crash or a huge allocation.
public struct SafetensorsFile: Sendable {
    /// Largest header accepted (the format's reference implementation uses 100 MB).
    public static let maximumHeaderBytes = 100_000_000

    public let metadata: [String: String]
    /// Tensors in file order.
    public let tensors: [SafetensorsTensorInfo]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Reads and validates the file at `path`.
    /// - Throws: ``SafetensorsError`` naming the file and what is wrong with it.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError("cannot read \(path): missing or unreadable")
        }
        do { try self.init(bytes: [UInt8](data)) } catch let error as SafetensorsError {
            throw SafetensorsError("\(path): \(error.description)")
        }
    }

    /// Parses and validates a whole file's bytes.
    /// - Throws: ``SafetensorsError`` describing what is malformed.
    public init(bytes: [UInt8]) throws {
        guard bytes.count >= 8 else { throw SafetensorsError("file too short (\(bytes.count) bytes) for a safetensors header") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes), Int(headerLength) <= bytes.count - 8 else {
            throw SafetensorsError("header claims \(headerLength) bytes but the file has \(bytes.count - 8) after the length prefix (truncated or corrupt)")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw SafetensorsError("header is not valid JSON (corrupt file)")
        }
        guard let header = object as? [String: Any] else { throw SafetensorsError("header is not a JSON object") }
        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensorInfo] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw SafetensorsError("__metadata__ is not an object") }
                for (k, v) in map {
                    guard let s = v as? String else { throw SafetensorsError("__metadata__.\(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeValues = entry["shape"] as? [Any],
                  let offsetValues = entry["data_offsets"] as? [Any], offsetValues.count == 2 else {
                throw SafetensorsError("tensor '\(name)': entry needs dtype, shape and data_offsets")
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw SafetensorsError("tensor '\(name)': unknown dtype \(dtypeName)")
            }
            var shape: [Int] = []
            var elements = 1
            for dim in shapeValues {
                guard let d = (dim as? NSNumber)?.intValue, d >= 0 else {
                    throw SafetensorsError("tensor '\(name)': invalid shape \(shapeValues)")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow, product <= dataSize else {
                    throw SafetensorsError("tensor '\(name)': shape \(shapeValues) claims more elements than the file holds")
                }
                elements = product
                shape.append(d)
            }
            guard let begin = (offsetValues[0] as? NSNumber)?.intValue, let end = (offsetValues[1] as? NSNumber)?.intValue,
                  begin >= 0, begin <= end, end <= dataSize else {
                throw SafetensorsError("tensor '\(name)': data_offsets \(offsetValues) lie outside the \(dataSize) data bytes (truncated or corrupt)")
            }
            guard end - begin == elements * dtype.size else {
                throw SafetensorsError("tensor '\(name)': \(end - begin) bytes do not match shape \(shape) of \(dtypeName)")
            }
            tensors.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end))
        }
        tensors.sort { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound || ($0.dataOffsets.lowerBound == $1.dataOffsets.lowerBound && $0.name < $1.name) }
        var cursor = 0
        for t in tensors {
            guard t.dataOffsets.lowerBound == cursor else {
                throw SafetensorsError("tensor '\(t.name)': data is not contiguous (gap or overlap at byte \(cursor))")
            }
            cursor = t.dataOffsets.upperBound
        }
        guard cursor == dataSize else { throw SafetensorsError("\(dataSize - cursor) trailing bytes after the last tensor") }
        self.metadata = metadata
        self.tensors = tensors
        self.bytes = bytes
        self.dataStart = dataStart
    }

    /// Metadata of tensor `name`.
    public func info(_ name: String) -> SafetensorsTensorInfo? { tensors.first { $0.name == name } }

    /// The raw bytes of tensor `name`.
    /// - Throws: ``SafetensorsError`` when it is absent.
    public func rawBytes(_ name: String) throws -> ArraySlice<UInt8> {
        guard let t = info(name) else { throw SafetensorsError("tensor '\(name)' is missing") }
        return bytes[(dataStart + t.dataOffsets.lowerBound)..<(dataStart + t.dataOffsets.upperBound)]
    }

    private func typed<T>(_ name: String, _ dtype: SafetensorsDType, as: T.Type) throws -> [T] {
        guard let t = info(name) else { throw SafetensorsError("tensor '\(name)' is missing") }
        guard t.dtype == dtype else { throw SafetensorsError("tensor '\(name)' is \(t.dtype.rawValue), expected \(dtype.rawValue)") }
        let slice = try rawBytes(name)
        return [T](unsafeUninitializedCapacity: t.elementCount) { buffer, count in
            slice.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
            }
            count = t.elementCount
        }
    }

    /// Tensor `name` as `Float`s (must be `F32`).
    /// - Throws: ``SafetensorsError`` when missing or of another dtype.
    public func floats(_ name: String) throws -> [Float] { try typed(name, .f32, as: Float.self) }
    /// Tensor `name` as `Int32`s (must be `I32`).
    public func int32s(_ name: String) throws -> [Int32] { try typed(name, .i32, as: Int32.self) }
    /// Tensor `name` as `Int64`s (must be `I64`).
    public func int64s(_ name: String) throws -> [Int64] { try typed(name, .i64, as: Int64.self) }
    /// Tensor `name` as bytes (must be `U8`).
    public func uint8s(_ name: String) throws -> [UInt8] { try typed(name, .u8, as: UInt8.self) }
}

private func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
