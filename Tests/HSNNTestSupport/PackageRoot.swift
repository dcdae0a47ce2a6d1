import Foundation

/// The package's root folder (where Package.swift, config/ and scripts/ are), for tests that read
/// the repository's own files.
package let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
