import Foundation

/// Rewrites the `config` object of a model folder's `model.json` with `change`: how tests make
/// the folder of an older build (a key removed) or of another setting.
package func rewriteModelConfiguration(in folder: URL, _ change: (inout [String: Any]) -> Void) throws {
    let file = folder.appendingPathComponent("model.json")
    guard var header = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any],
          var config = header["config"] as? [String: Any]
    else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: file.path]) }
    change(&config)
    header["config"] = config
    try JSONSerialization.data(withJSONObject: header).write(to: file)
}
