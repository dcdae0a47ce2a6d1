import Foundation

/// Rewrites a model folder's `model.json` (the scalar state beside the tensors) with `change`:
/// how tests make the folder of an older build (a field removed) or of another setting.
package func rewriteModelHeader(in folder: URL, _ change: (inout [String: Any]) throws -> Void) throws {
    let file = folder.appendingPathComponent("model.json")
    guard var header = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
    else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: file.path]) }
    try change(&header)
    try JSONSerialization.data(withJSONObject: header).write(to: file)
}

/// Rewrites the `config` object of a model folder's `model.json` with `change`.
package func rewriteModelConfiguration(in folder: URL, _ change: (inout [String: Any]) -> Void) throws {
    try rewriteModelHeader(in: folder) { header in
        guard var config = header["config"] as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: folder.appendingPathComponent("model.json").path])
        }
        change(&config)
        header["config"] = config
    }
}
