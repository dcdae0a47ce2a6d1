import Foundation
import HSNNCheckpoint
import Safetensors
import Testing
import HSNNTestSupport

/// The Python check script, found from this source file's location.
private let pythonScript = packageRoot.appendingPathComponent("Tests/python/test_checkpoint_python.py").path

/// Whether python3 with numpy and safetensors is installed (`scripts/setup` installs them).
private let pythonReady: Bool = {
    guard let python = which("python3"), let result = try? runProcess(python, ["-c", "import numpy, safetensors.numpy"]) else { return false }
    return result.status == 0
}()

@Suite("Python interoperability")
struct PythonInteropTests {
    @Test("a published version loads in Python with safetensors.numpy and json, checksums matching",
          .enabled(if: pythonReady, "SKIPPED: python3 with numpy and safetensors is not installed (run scripts/setup or `pip install numpy safetensors`)"))
    func loadsInPython() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let floats = (0..<24).map { Float($0) * 0.5 - 3 }
        let published = try store.publish(metadata: sampleMetadata(events: 42)) { folder in
            try sampleWriter(seed: 4)(folder)
            var state = SafetensorsWriter(metadata: ["kind": "node_embeddings"])
            try state.add(name: "nodes.embedding", shape: [2, 3, 4], floats: floats)
            try state.add(name: "nodes.assignment", shape: [5], int32s: [0, 1, 1, 0, -1])
            try state.add(name: "nodes.mask", shape: [3], uint8s: [1, 0, 1])
            try state.add(name: "doubles", dtype: .f64, shape: [2], bytes: [1.5, -2.25].withUnsafeBytes { Array($0) })
            try state.write(toPath: folder.path + "/index.safetensors")
        }
        let expected: [String: [String: [String: Any]]] = [
            "index.safetensors": [
                "nodes.embedding": ["dtype": "float32", "shape": [2, 3, 4], "values": floats.map(Double.init)],
                "nodes.assignment": ["dtype": "int32", "shape": [5], "values": [0, 1, 1, 0, -1]],
                "nodes.mask": ["dtype": "uint8", "shape": [3], "values": [1, 0, 1]],
                "doubles": ["dtype": "float64", "shape": [2], "values": [1.5, -2.25]],
            ],
            "weights.safetensors": [
                "encoder.weight": ["dtype": "float32", "shape": [4, 8], "values": sampleWeights(seed: 4).map(Double.init)],
                "item_ids": ["dtype": "int64", "shape": [3], "values": [10, 20, 34]],
            ],
        ]
        let expectedPath = directory.path + "/expected.json"
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: expectedPath))

        let python = try #require(which("python3"))
        let good = try runProcess(python, [pythonScript, published.folder.path, expectedPath])
        #expect(good.status == 0, "python check failed:\n\(good.output)")
        #expect(good.output.contains("v00000001: 5 files checked, 7 tensors loaded, 0 problems"), "\(good.output)")

        // The Python check is not a rubber stamp: a flipped byte fails it.
        let indexSize = try #require(published.manifest.files.first { $0.path == "index.safetensors" }?.size)
        try flipByte(published.folder.path + "/index.safetensors", at: Int(indexSize) - 1)
        let bad = try runProcess(python, [pythonScript, published.folder.path, expectedPath])
        #expect(bad.status == 1)
        #expect(bad.output.contains("index.safetensors: SHA-256"), "\(bad.output)")
    }
}
