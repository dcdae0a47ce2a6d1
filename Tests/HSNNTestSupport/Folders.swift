import Foundation

/// A fresh folder under the system temporary directory, removed when released.
package final class TemporaryDirectory {
    package let url: URL
    package var path: String { url.path }

    package init(prefix: String = "hsnn-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// A fresh scratch folder under the temporary directory that the caller removes.
package func makeScratchFolder(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The names in a folder, sorted (empty when it cannot be read).
package func entries(_ directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
}
