import Foundation
import HSNNSupport

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
    /// The operating system's `errno` when a system call failed (e.g. `ENOSPC` for a full disk), else `nil`.
    public var osErrorCode: Int32?
    init(_ description: String, osErrorCode: Int32? = nil) {
        self.description = description
        self.osErrorCode = osErrorCode
    }
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
            json += metadata.keys.sorted().map { "\(StringEscaping.quoted($0)):\(StringEscaping.quoted(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        for (info, _) in entries {
            if !first { json += "," }
            first = false
            json += "\(StringEscaping.quoted(info.name)):{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":[\(info.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(info.dataOffsets.lowerBound),\(info.dataOffsets.upperBound)]}"
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

    /// Writes the file to `path` (created or truncated; its permission bits are set to `mode`
    /// explicitly, independent of the umask), optionally fsyncing it.
    /// - Throws: ``SafetensorsError`` naming the path and the OS error.
    public func write(toPath path: String, mode: mode_t = 0o640, fsync syncToDisk: Bool = false) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            throw SafetensorsError("cannot create \(path): \(String(cString: strerror(code)))", osErrorCode: code)
        }
        defer { close(fd) }
        func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    let code = errno
                    if code == EINTR { continue }
                    throw SafetensorsError("cannot write \(path): \(String(cString: strerror(code)))", osErrorCode: code)
                }
                offset += n
            }
        }
        let header = headerBytes()
        try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try writeAll($0) }
        try header.withUnsafeBytes { try writeAll($0) }
        for (_, bytes) in entries where !bytes.isEmpty { try bytes.withUnsafeBytes { try writeAll($0) } }
        if fchmod(fd, mode) != 0 {
            let code = errno
            throw SafetensorsError("cannot set mode of \(path): \(String(cString: strerror(code)))", osErrorCode: code)
        }
        if syncToDisk, fsync(fd) != 0 {
            let code = errno
            throw SafetensorsError("cannot fsync \(path): \(String(cString: strerror(code)))", osErrorCode: code)
        }
    }
}

/// The header of a safetensors file, read and validated without loading the tensor data.
public struct SafetensorsHeader: Sendable {
    /// Free-form string metadata from `__metadata__`.
    public let metadata: [String: String]
    /// Tensors in file order.
    public let tensors: [SafetensorsTensorInfo]
    /// Byte offset of the data section from the start of the file.
    public let dataStart: Int
    /// Size of the whole file in bytes.
    public let fileSize: Int

    /// Metadata of tensor `name`.
    public func info(_ name: String) -> SafetensorsTensorInfo? { tensors.first { $0.name == name } }

    /// Reads and validates the header of the file at `path`, checking every tensor's
    /// offsets against the real file size. Only the header is read: at most
    /// ``SafetensorsFile/maximumHeaderBytes`` are allocated whatever the file claims.
    /// - Throws: ``SafetensorsError`` naming the file and what is wrong with it.
    public static func read(path: String) throws -> SafetensorsHeader {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw SafetensorsError("cannot open \(path): \(String(cString: strerror(code)))", osErrorCode: code)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let code = errno
            throw SafetensorsError("cannot stat \(path): \(String(cString: strerror(code)))", osErrorCode: code)
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SafetensorsError("\(path) is not a regular file") }
        let fileSize = Int(st.st_size)
        func readExactly(_ count: Int, at offset: Int) throws -> [UInt8] {
            try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                var done = 0
                while done < count {
                    let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                    if n < 0 {
                        let code = errno
                        if code == EINTR { continue }
                        throw SafetensorsError("cannot read \(path): \(String(cString: strerror(code)))", osErrorCode: code)
                    }
                    if n == 0 { throw SafetensorsError("\(path): file shrank while being read") }
                    done += n
                }
                initialized = count
            }
        }
        do {
            guard fileSize >= 8 else { throw SafetensorsError("file too short (\(fileSize) bytes) for a safetensors header") }
            let prefix = try readExactly(8, at: 0)
            let headerLength = try validatedHeaderLength(prefix, fileSize: fileSize)
            let headerBytes = try readExactly(headerLength, at: 8)
            let dataStart = 8 + headerLength
            let (metadata, tensors) = try parseSafetensorsHeader(headerBytes[...], dataSize: fileSize - dataStart)
            return SafetensorsHeader(metadata: metadata, tensors: tensors, dataStart: dataStart, fileSize: fileSize)
        } catch let error as SafetensorsError {
            throw SafetensorsError("\(path): \(error.description)", osErrorCode: error.osErrorCode)
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
        let headerLength = try validatedHeaderLength(bytes[0..<8], fileSize: bytes.count)
        let dataStart = 8 + headerLength
        let (metadata, tensors) = try parseSafetensorsHeader(bytes[8..<dataStart], dataSize: bytes.count - dataStart)
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

/// Reads the 8-byte little-endian header length and checks it against the limit and the file size.
private func validatedHeaderLength(_ prefix: some Collection<UInt8>, fileSize: Int) throws -> Int {
    var headerLength: UInt64 = 0
    for (i, byte) in prefix.prefix(8).enumerated() { headerLength |= UInt64(byte) << (8 * UInt64(i)) }
    guard headerLength <= UInt64(SafetensorsFile.maximumHeaderBytes) else {
        throw SafetensorsError("header claims \(headerLength) bytes, more than the \(SafetensorsFile.maximumHeaderBytes)-byte limit (corrupt or not a safetensors file)")
    }
    guard Int(headerLength) <= fileSize - 8 else {
        throw SafetensorsError("header claims \(headerLength) bytes but the file has \(fileSize - 8) after the length prefix (truncated or corrupt)")
    }
    guard headerLength >= 2 else { throw SafetensorsError("header of \(headerLength) bytes cannot hold a JSON object") }
    return Int(headerLength)
}

private struct HeaderKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private struct HeaderEntry: Decodable {
    var dtype: String
    var shape: [Int]
    var dataOffsets: [Int]
    enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
}

/// The decoded JSON header; entries are checked against the data size afterwards.
private struct DecodedHeader: Decodable {
    var metadata: [String: String] = [:]
    var entries: [(name: String, entry: HeaderEntry)] = []

    init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<HeaderKey>
        do { container = try decoder.container(keyedBy: HeaderKey.self) } catch {
            throw SafetensorsError("header is not a JSON object")
        }
        for key in container.allKeys {
            if key.stringValue == "__metadata__" {
                do { metadata = try container.decode([String: String].self, forKey: key) } catch {
                    throw SafetensorsError("__metadata__ must be an object of strings")
                }
                continue
            }
            do { entries.append((key.stringValue, try container.decode(HeaderEntry.self, forKey: key))) } catch {
                throw SafetensorsError("tensor '\(key.stringValue)': entry needs dtype (string), shape (integers) and data_offsets (integers)")
            }
        }
    }
}

/// Parses the JSON header and validates every tensor against `dataSize`, the number of
/// bytes after the header: dtypes known, shapes non-negative without overflow, offsets
/// inside the data, byte counts matching shapes, data contiguous with no trailing bytes.
private func parseSafetensorsHeader(_ json: ArraySlice<UInt8>, dataSize: Int) throws -> ([String: String], [SafetensorsTensorInfo]) {
    guard json.first == UInt8(ascii: "{") else { throw SafetensorsError("header does not start with '{' (corrupt or not a safetensors file)") }
    let header: DecodedHeader
    do {
        header = try JSONDecoder().decode(DecodedHeader.self, from: Data(json))
    } catch let error as SafetensorsError {
        throw error
    } catch {
        throw SafetensorsError("header is not valid JSON (corrupt file)")
    }
    var tensors: [SafetensorsTensorInfo] = []
    tensors.reserveCapacity(header.entries.count)
    for (name, entry) in header.entries {
        guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
            throw SafetensorsError("tensor '\(name)': unknown dtype \(entry.dtype)")
        }
        var elements = 1
        for d in entry.shape {
            guard d >= 0 else { throw SafetensorsError("tensor '\(name)': invalid shape \(entry.shape)") }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= dataSize else {
                throw SafetensorsError("tensor '\(name)': shape \(entry.shape) claims more elements than the file holds")
            }
            elements = product
        }
        guard entry.dataOffsets.count == 2 else {
            throw SafetensorsError("tensor '\(name)': data_offsets must hold two integers, got \(entry.dataOffsets)")
        }
        let begin = entry.dataOffsets[0], end = entry.dataOffsets[1]
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw SafetensorsError("tensor '\(name)': data_offsets \(entry.dataOffsets) lie outside the \(dataSize) data bytes (truncated or corrupt)")
        }
        guard end - begin == elements * dtype.size else {
            throw SafetensorsError("tensor '\(name)': \(end - begin) bytes do not match shape \(entry.shape) of \(entry.dtype)")
        }
        tensors.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: entry.shape, dataOffsets: begin..<end))
    }
    // By offset; an empty tensor sorts before a non-empty one at the same offset.
    tensors.sort { a, b in
        a.dataOffsets.lowerBound != b.dataOffsets.lowerBound ? a.dataOffsets.lowerBound < b.dataOffsets.lowerBound
            : a.dataOffsets.upperBound != b.dataOffsets.upperBound ? a.dataOffsets.upperBound < b.dataOffsets.upperBound : a.name < b.name
    }
    var cursor = 0
    for t in tensors {
        guard t.dataOffsets.lowerBound == cursor else {
            throw SafetensorsError("tensor '\(t.name)': data is not contiguous (gap or overlap at byte \(cursor))")
        }
        cursor = t.dataOffsets.upperBound
    }
    guard cursor == dataSize else { throw SafetensorsError("\(dataSize - cursor) trailing bytes after the last tensor") }
    return (header.metadata, tensors)
}
