import Foundation
import TOMLKit
import HSNNDaemon
import HSNNTestSupport
import Testing
@testable import HSNNOps

/// Inputs on which the configuration loader's fuzz target (Tests/Fuzz/ConfigLoaderFuzz.swift,
/// `scripts/fuzz config`) crashed, and the syntax error behind them.
@Suite struct ConfigFuzzRegressionTests {
    /// Every crash input kept in Tests/Fuzz/crashes/config.
    static let crashInputs: [URL] = {
        let folder = packageRoot.appendingPathComponent("Tests/Fuzz/crashes/config")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }()

    private let loader = ConfigLoader(schema: .hsnn)

    /// What the fuzz target does with one input: TOML text, then after a NUL byte one
    /// `--set` override per line.
    private func load(_ bytes: [UInt8]) -> Result<Configuration, ConfigurationError> {
        let separator = bytes.firstIndex(of: 0) ?? bytes.count
        let toml = String(decoding: bytes[..<separator], as: UTF8.self)
        let overrides = separator < bytes.count
            ? String(decoding: bytes[(separator + 1)...], as: UTF8.self).split(separator: "\n").map(String.init) : []
        do {
            return .success(try loader.load(tomlText: toml, fileName: "fuzz.toml", overrides: overrides))
        } catch {
            return .failure(error)
        }
    }

    @Test func theCrashInputsAreKept() {
        #expect(!Self.crashInputs.isEmpty, "Tests/Fuzz/crashes/config holds the inputs that crashed the loader")
    }

    /// Each input is refused with a message instead of aborting the process.
    @Test(arguments: crashInputs)
    func aCrashInputIsRefused(input: URL) throws {
        let bytes = try [UInt8](Data(contentsOf: input))
        guard case .failure(let error) = load(bytes) else {
            Issue.record("\(input.lastPathComponent) was accepted")
            return
        }
        #expect(error.problems.contains { $0.code == .malformedFile }, "\(error)")
        _ = error.description
    }

    /// toml++ (inside TOMLKit) aborts on a table header that does not start with a key; the
    /// loader reports it with its line and column instead.
    @Test(arguments: [
        ("[\n", 1, 2), ("[[\n", 1, 3), ("[ \t\n", 1, 4), ("[=x]\n", 1, 2), ("[#]\n", 1, 2), ("[.a]\n", 1, 2),
        ("[ [a]]\n", 1, 3), ("a = 1\n\n  [\r\n", 3, 4), ("x = \"\"\"\n[\n\"\"\"\n[\n", 4, 2),
    ])
    func aHeaderWithoutAKeyIsReported(text: String, line: Int, column: Int) throws {
        guard case .failure(let error) = load(Array(text.utf8)) else {
            Issue.record("\(text.debugDescription) was accepted")
            return
        }
        let problem = try #require(error.problems.first)
        #expect(problem.code == .malformedFile)
        #expect(problem.source == .file(path: "fuzz.toml", line: line), "\(error)")
        #expect(problem.hint.contains("line \(line), column \(column)"), "\(problem.hint)")
    }

    /// Valid documents in which a `[` starts a line without starting a table header, or a
    /// header is written unusually: the scan finds nothing and the TOML parser accepts them.
    @Test(arguments: [
        "a = [\n  [\n    1,\n  ],\n]\n",
        "a = \"\"\"\n[\n\"\"\"\n",
        "a = '''\n[\n'''\n",
        "a = \"\"\"x \\\n[\n\"\"\"\n",
        "a = \"[\" # [\n[b]\n",
        "[ \"a b\" . c ]\nx = 1\n",
        "[[t]]\n[[ t ]]\n['q']\n",
        "\u{FEFF}[a]\n",
        "a = { b = [\n1] }\n",
        "[a]\n\n# [\n",
        "[",
    ])
    func validOrUnfinishedDocumentsPassTheScan(text: String) throws {
        #expect(TOMLPreflight.problem(in: text) == nil)
        if text != "[" {
            _ = try TOMLTable(string: text)
        }
    }
}
