// libFuzzer entry point for the configuration loader (the path `hsnn config check` and
// `hsnn run` take before the model checks). scripts/fuzz compiles it into one module with the
// HSNNOps/Config sources and the daemon's sections and links TOMLKit (it is not part of the package build).
//
// Input: TOML text, then optionally a NUL byte followed by `--set` overrides, one per line.

/// The loader with the operational schema; no environment variables.
private let loader = ConfigLoader(schema: ConfigSchema.hsnn)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let separator = bytes.firstIndex(of: 0) ?? size
    let toml = String(decoding: bytes[..<separator], as: UTF8.self)
    let overrides = separator < size
        ? String(decoding: bytes[(separator + 1)...], as: UTF8.self).split(separator: "\n").map(String.init)
        : []
    do {
        let configuration = try loader.load(tomlText: toml, fileName: "fuzz.toml", overrides: overrides)
        // What `hsnn config check` prints on success.
        _ = configuration.renderEffective()
    } catch {
        // What it prints on failure.
        _ = error.description
    }
    return 0
}
