import Foundation
import Safetensors

/// One named tensor of a ``ModelSnapshot``.
public struct SnapshotTensor: Sendable {
    /// The values, row-major, in their stored element type.
    public enum Payload: Sendable {
        /// 32-bit floats (weights, optimizer moments, float state).
        case f32([Float])
        /// 32-bit integers (index paths, members, representatives).
        case i32([Int32])
        /// 64-bit integers (hashes, times, offsets).
        case i64([Int64])
        /// Bytes (flags, feature slots).
        case u8([UInt8])
    }

    /// The tensor's name in its safetensors file.
    public var name: String
    /// Its dimensions.
    public var shape: [Int]
    /// Its values.
    public var payload: Payload
}

/// A complete, immutable deep copy of a ``RetrievalModel``'s state, taken between batches on the
/// training thread and written from any thread while training continues.
///
/// Files written by ``write(to:)`` (documented in docs/model.md):
/// - `model.json`: format version, configuration, feature layout, counters, schedule, optimizer
///   step, RNG state, index counters;
/// - `items.json`: the item ids in index order (`["42", "7", ...]`);
/// - `weights.safetensors`: dense weights, embedding tables, index codebooks and projection;
/// - `optimizer.safetensors`: Adam moments and row-wise Adagrad accumulators;
/// - `state.safetensors`: item catalog, index mapping, representatives, balance window and the
///   per-user cross-feature state.
public struct ModelSnapshot: Sendable {
    /// Current format of the state folder.
    public static let formatVersion = 3
    public let header: Data
    public let itemIDs: [String]
    public let weights: [SnapshotTensor]
    public let optimizer: [SnapshotTensor]
    public let state: [SnapshotTensor]
    /// Examples trained when the snapshot was taken.
    public let examplesTrained: Int64

    /// File names inside a state folder.
    public static let fileNames = ["model.json", "items.json", "weights.safetensors", "optimizer.safetensors", "state.safetensors"]

    /// Writes the state files into `folder` (which must exist), each with permission bits `mode`.
    /// - Throws: ``ModelStateError`` naming the file when a write fails.
    public func write(to folder: URL, mode: mode_t = 0o640, fsync: Bool = false) throws {
        func writeData(_ data: Data, _ name: String) throws {
            let path = folder.appendingPathComponent(name).path
            guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: Int(mode)]) else {
                throw ModelStateError(path: path, message: "cannot write \(path); check that the folder exists and is writable")
            }
            if fsync, let handle = FileHandle(forWritingAtPath: path) { try? handle.synchronize(); try? handle.close() }
        }
        try writeData(header, "model.json")
        try writeData(try JSONEncoder().encode(itemIDs), "items.json")
        for (name, tensors) in [("weights.safetensors", weights), ("optimizer.safetensors", optimizer), ("state.safetensors", state)] {
            var w = SafetensorsWriter(metadata: ["format": "hsnn-model", "format_version": "\(Self.formatVersion)"])
            let path = folder.appendingPathComponent(name).path
            do {
                for t in tensors {
                    switch t.payload {
                    case .f32(let v): try w.add(name: t.name, shape: t.shape, floats: v)
                    case .i32(let v): try w.add(name: t.name, shape: t.shape, int32s: v)
                    case .i64(let v): try w.add(name: t.name, shape: t.shape, int64s: v)
                    case .u8(let v): try w.add(name: t.name, shape: t.shape, uint8s: v)
                    }
                }
                try w.write(toPath: path, mode: mode, fsync: fsync)
            } catch {
                throw ModelStateError(path: path, message: "cannot write \(path): \(error)")
            }
        }
    }
}

/// A state folder that cannot be written or read.
public struct ModelStateError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { message }
}
