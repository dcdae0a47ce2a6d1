import Foundation
import HSNNCheckpoint
import Testing
import HSNNTestSupport

private let goodSHA = String(repeating: "ab", count: 32)

private func manifest(files: [CheckpointFileEntry] = [CheckpointFileEntry(path: "weights.safetensors", size: 10, sha256: goodSHA)],
                      metadata: CheckpointMetadata = sampleMetadata(events: 100)) throws -> CheckpointManifest {
    try CheckpointManifest(version: CheckpointVersion(3), parentVersion: CheckpointVersion(2), createdAtUnixMilliseconds: 1_790_000_000_123,
                           metadata: metadata, files: files)
}

/// Encodes a manifest, lets `edit` change its JSON object, and decodes the result.
private func decodeEdited(_ edit: (inout [String: Any]) -> Void, limits: CheckpointManifestLimits = .init()) throws -> CheckpointManifest {
    var object = try JSONSerialization.jsonObject(with: try manifest().encoded()) as! [String: Any]
    edit(&object)
    return try CheckpointManifest.decode(try JSONSerialization.data(withJSONObject: object), limits: limits)
}

private func expectRefusal(_ expected: String, limits: CheckpointManifestLimits = .init(), sourceLocation: SourceLocation = #_sourceLocation,
                           _ edit: (inout [String: Any]) -> Void) {
    do {
        _ = try decodeEdited(edit, limits: limits)
        Issue.record("manifest accepted; expected refusal containing '\(expected)'", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
        #expect(error.code == .malformedManifest, sourceLocation: sourceLocation)
        #expect(error.description.contains(expected), "\(error.description)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Manifest format and validation")
struct ManifestTests {
    @Test("encodes snake_case JSON and decodes back to the same value")
    func roundTrip() throws {
        let original = try manifest()
        let data = try original.encoded()
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        for key in ["format_version", "version", "parent_version", "created_at", "created_at_unix_ms", "configuration",
                    "counters", "offsets", "index_statistics", "metrics", "files"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["created_at"] as? String == "2026-09-21T14:13:20.123Z")
        #expect((object["offsets"] as? [[String: Any]])?.first?["next_offset"] as? Int == 100)
        let decoded = try CheckpointManifest.decode(data)
        #expect(decoded == original)
        #expect(decoded.nextOffset(topic: "hsnn.events", partition: 1) == 50)
        #expect(decoded.nextOffset(topic: "hsnn.events", partition: 9) == nil)
        #expect(decoded.eventsTrained == 100)
        #expect(decoded.configuration["model"]?["layers"] == [64, 32])
    }

    @Test("the first version has an explicit null parent")
    func nullParent() throws {
        let first = try CheckpointManifest(version: CheckpointVersion(1), parentVersion: nil, createdAtUnixMilliseconds: 0,
                                           metadata: CheckpointMetadata(), files: [])
        let text = String(decoding: try first.encoded(), as: UTF8.self)
        #expect(text.contains("\"parent_version\" : null"))
        #expect(try CheckpointManifest.decode(first.encoded()).parentVersion == nil)
    }

    @Test("not JSON, missing fields and wrong types are refused")
    func malformed() throws {
        #expect(throws: CheckpointError.self) { try CheckpointManifest.decode(Data("not json".utf8)) }
        #expect(throws: CheckpointError.self) { try CheckpointManifest.decode(Data("[1,2]".utf8)) }
        expectRefusal("missing field 'files'") { $0["files"] = nil }
        expectRefusal("wrong type at version") { $0["version"] = "three" }
        expectRefusal("wrong type at counters") { $0["counters"] = ["x": "y"] }
        expectRefusal("configuration must be a JSON object") { $0["configuration"] = [1, 2] }
    }

    @Test("absurd sizes and counts are refused")
    func absurdValues() throws {
        expectRefusal("claims 4611686018427387904 bytes") { object in
            var files = object["files"] as! [[String: Any]]
            files[0]["size"] = 1 << 62
            object["files"] = files
        }
        expectRefusal("claims -1 bytes") { object in
            var files = object["files"] as! [[String: Any]]
            files[0]["size"] = -1
            object["files"] = files
        }
        expectRefusal("files exceed the limit of 2", limits: CheckpointManifestLimits(maximumFiles: 2)) { object in
            object["files"] = (0..<3).map { ["path": "f\($0)", "size": 1, "sha256": goodSHA] }
        }
        expectRefusal("more than 100 bytes in total", limits: CheckpointManifestLimits(maximumTotalBytes: 100)) { object in
            object["files"] = (0..<3).map { ["path": "f\($0)", "size": 40, "sha256": goodSHA] }
        }
        expectRefusal("outside 1...99999999") { $0["version"] = 1_000_000_000 }
        expectRefusal("outside years") { $0["created_at_unix_ms"] = -5 }
        expectRefusal("format_version 7, newer") { $0["format_version"] = 7 }
        expectRefusal("parent_version 3 is not older") { $0["parent_version"] = 3 }
        expectRefusal("deeper than 3 levels", limits: CheckpointManifestLimits(maximumJSONDepth: 3)) { $0["metrics"] = ["a": ["b": ["c": ["d": 1]]]] }
    }

    @Test("a manifest larger than the limit is refused before parsing")
    func oversizedManifest() throws {
        let data = Data(repeating: 0x20, count: 2048)
        #expect(throws: CheckpointError.self) { try CheckpointManifest.decode(data, limits: CheckpointManifestLimits(maximumManifestBytes: 1024)) }
        do { _ = try CheckpointManifest.decode(data, limits: CheckpointManifestLimits(maximumManifestBytes: 1024)) } catch let error as CheckpointError {
            #expect(error.description.contains("exceed the 1024-byte limit"))
        }
    }

    @Test("paths leaving the version folder or otherwise unsafe are refused", arguments: [
        ("../escape", "leaves the version folder"),
        ("a/../../b", "leaves the version folder"),
        ("./a", "leaves the version folder"),
        ("/etc/passwd", "is absolute"),
        ("a//b", "empty component"),
        ("a/", "empty component"),
        ("", "is empty"),
        ("a\\b", "backslash"),
        ("a\u{0}b", "control character"),
        ("manifest.json", "reserved"),
        ("PINNED", "reserved"),
    ])
    func unsafePaths(path: String, expected: String) {
        expectRefusal(expected) { object in
            var files = object["files"] as! [[String: Any]]
            files[0]["path"] = path
            object["files"] = files
        }
    }

    @Test("duplicate paths, malformed checksums and bad offsets are refused")
    func otherViolations() {
        expectRefusal("listed twice") { object in
            let files = object["files"] as! [[String: Any]]
            object["files"] = files + files
        }
        expectRefusal("malformed sha256") { object in
            var files = object["files"] as! [[String: Any]]
            files[0]["sha256"] = String(repeating: "AB", count: 32)
            object["files"] = files
        }
        expectRefusal("listed twice in offsets") { object in
            let offsets = object["offsets"] as! [[String: Any]]
            object["offsets"] = offsets + [offsets[0]]
        }
        expectRefusal("negative next_offset") { object in
            var offsets = object["offsets"] as! [[String: Any]]
            offsets[0]["next_offset"] = -2
            object["offsets"] = offsets
        }
    }

    @Test("version arguments parse from numbers, folder names and paths")
    func versionParsing() throws {
        #expect(try CheckpointVersion(parsing: "42").number == 42)
        #expect(try CheckpointVersion(parsing: "v00000042").number == 42)
        #expect(try CheckpointVersion(parsing: "v42").number == 42)
        #expect(try CheckpointVersion(parsing: "/var/lib/hsnn/checkpoints/v00000042/").number == 42)
        #expect(try CheckpointVersion(parsing: "checkpoints/v00000007").folderName == "v00000007")
        for bad in ["", "abc", "0", "v0", "123456789", "-3", "4.5", "v000000042"] {
            #expect(throws: CheckpointError.self, "\(bad)") { try CheckpointVersion(parsing: bad) }
        }
        #expect(throws: CheckpointError.self) { try CheckpointVersion(0) }
        #expect(try CheckpointVersion(99_999_999).folderName == "v99999999")
    }

    @Test("free-form JSON flattens to dotted paths")
    func flatten() {
        let value: ManifestJSON = ["a": ["b": 1, "c": [true, nil]], "d": "x", "e": [:]]
        let leaves = value.flattened().map { "\($0.path)=\($0.value.jsonText)" }
        #expect(leaves == ["a.b=1", "a.c[0]=true", "a.c[1]=null", "d=\"x\"", "e={}"])
    }
}
