import Foundation
import Testing
@testable import HSNNOps

/// The package root, found from this file's path (Tests/HSNNOpsTests/<file>).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct ConfigDocumentationTests {
    @Test func pipesInDocsAreEscaped() {
        let schema = ConfigSchema(sections: [
            ConfigSection("a", doc: "", keys: [ConfigKey("a.b", .string, default: .string("x|y"), doc: "left | right")]),
        ])
        let markdown = schema.markdownReference()
        #expect(markdown.contains(#"| `a.b` | string | `"x\|y"` | `HSNN_A_B` | left \| right |"#))
    }
}
