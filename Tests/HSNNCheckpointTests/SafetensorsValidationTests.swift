import Foundation
import Safetensors
import Testing
import HSNNTestSupport

/// Builds a file from a raw header text and a data section, with a chosen length prefix.
private func rawFile(header: String, data: [UInt8] = [], claimedLength: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (claimedLength ?? UInt64(headerBytes.count)).littleEndian) { out.append(contentsOf: $0) }
    out += headerBytes
    out += data
    return out
}

/// Parses in memory and, through a file, header-only; both must refuse with a message containing `expected`.
private func expectRefused(_ bytes: [UInt8], containing expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    do {
        _ = try SafetensorsFile(bytes: bytes)
        Issue.record("SafetensorsFile accepted a malformed file", sourceLocation: sourceLocation)
    } catch let error as SafetensorsError {
        #expect(error.description.contains(expected), "\(error.description)", sourceLocation: sourceLocation)
    }
    let directory = try TemporaryDirectory()
    let path = directory.path + "/bad.safetensors"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    do {
        _ = try SafetensorsHeader.read(path: path)
        Issue.record("SafetensorsHeader accepted a malformed file", sourceLocation: sourceLocation)
    } catch let error as SafetensorsError {
        #expect(error.description.contains(expected), "\(error.description)", sourceLocation: sourceLocation)
        #expect(error.description.contains(path), sourceLocation: sourceLocation)
    }
}

@Suite("Safetensors header validation")
struct SafetensorsValidationTests {
    @Test("a written file reads back in memory and header-only")
    func roundTrip() throws {
        var writer = SafetensorsWriter(metadata: ["k": "v\"quoted\""])
        try writer.add(name: "a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        try writer.add(name: "b", shape: [], int64s: [42])
        try writer.add(name: "empty", shape: [0, 4], floats: [])
        let file = try SafetensorsFile(bytes: writer.serialized())
        #expect(try file.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try file.int64s("b") == [42])
        #expect(file.metadata == ["k": "v\"quoted\""])
        let directory = try TemporaryDirectory()
        try writer.write(toPath: directory.path + "/x.safetensors", mode: 0o600, fsync: true)
        let header = try SafetensorsHeader.read(path: directory.path + "/x.safetensors")
        #expect(header.tensors.map(\.name) == file.tensors.map(\.name))
        #expect(header.info("a")?.shape == [2, 3])
        #expect(header.fileSize == writer.serialized().count)
        #expect(header.dataStart % 8 == 0)
        #expect(mode(directory.path + "/x.safetensors") == 0o600)
    }

    @Test("an empty tensor between two others reads back, whatever the names")
    func emptyTensorInTheMiddle() throws {
        var writer = SafetensorsWriter(metadata: [:])
        try writer.add(name: "a", shape: [2], floats: [1, 2])
        try writer.add(name: "z.empty", shape: [0], int32s: [])
        try writer.add(name: "b", shape: [1], int64s: [7])
        let file = try SafetensorsFile(bytes: writer.serialized())
        #expect(try file.int32s("z.empty") == [])
        #expect(try file.int64s("b") == [7])
    }

    @Test("a header length beyond the limit is refused before allocating")
    func absurdHeaderLength() throws {
        try expectRefused(rawFile(header: "{}", claimedLength: 1 << 62), containing: "limit")
        try expectRefused(rawFile(header: "{}", claimedLength: UInt64(SafetensorsFile.maximumHeaderBytes) + 1), containing: "limit")
    }

    @Test("a header length beyond the file is refused as truncated")
    func truncatedHeader() throws {
        try expectRefused(rawFile(header: "{\"a\":1}", claimedLength: 4096), containing: "truncated")
        try expectRefused([1, 2, 3], containing: "too short")
    }

    @Test("data offsets beyond the data are refused")
    func offsetsOutsideData() throws {
        let header = #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        try expectRefused(rawFile(header: header, data: [UInt8](repeating: 0, count: 8)), containing: "outside")
    }

    @Test("shapes that overflow or claim more elements than the file holds are refused")
    func absurdShapes() throws {
        let overflow = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}"#
        try expectRefused(rawFile(header: overflow), containing: "claims more elements")
        let huge = #"{"w":{"dtype":"F64","shape":[1000000000],"data_offsets":[0,8]}}"#
        try expectRefused(rawFile(header: huge, data: [UInt8](repeating: 0, count: 8)), containing: "claims more elements")
        let negative = #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#
        try expectRefused(rawFile(header: negative), containing: "invalid shape")
    }

    @Test("non-integer or out-of-range numbers in the header are refused")
    func nonIntegerNumbers() throws {
        let fractional = #"{"w":{"dtype":"U8","shape":[2.5],"data_offsets":[0,2]}}"#
        try expectRefused(rawFile(header: fractional, data: [0, 0]), containing: "entry needs")
        let enormous = #"{"w":{"dtype":"U8","shape":[1e30],"data_offsets":[0,2]}}"#
        try expectRefused(rawFile(header: enormous, data: [0, 0]), containing: "entry needs")
        let threeOffsets = #"{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,1,2]}}"#
        try expectRefused(rawFile(header: threeOffsets, data: [0, 0]), containing: "two integers")
    }

    @Test("malformed headers are refused with a reason")
    func malformedHeaders() throws {
        try expectRefused(rawFile(header: "not json"), containing: "does not start with '{'")
        try expectRefused(rawFile(header: "{\"w\": [1,2"), containing: "not valid JSON")
        try expectRefused(rawFile(header: #"{"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), containing: "unknown dtype")
        try expectRefused(rawFile(header: #"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), containing: "entry needs")
        try expectRefused(rawFile(header: #"{"__metadata__":{"a":1}}"#), containing: "__metadata__")
        try expectRefused(rawFile(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), containing: "do not match")
    }

    @Test("gaps, overlaps and trailing bytes are refused")
    func layoutViolations() throws {
        let gap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}"#
        try expectRefused(rawFile(header: gap, data: [UInt8](repeating: 0, count: 5)), containing: "not contiguous")
        let overlap = #"{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}"#
        try expectRefused(rawFile(header: overlap, data: [UInt8](repeating: 0, count: 4)), containing: "not contiguous")
        let trailing = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        try expectRefused(rawFile(header: trailing, data: [UInt8](repeating: 0, count: 3)), containing: "trailing")
    }

    @Test("write errors carry the OS error code")
    func writeErrorCode() throws {
        let writer = SafetensorsWriter()
        do {
            try writer.write(toPath: "/nonexistent-folder-hsnn/x.safetensors")
            Issue.record("write into a missing folder succeeded")
        } catch let error as SafetensorsError {
            #expect(error.osErrorCode == ENOENT)
        }
    }
}
