// libFuzzer entry point for the event decoder. scripts/fuzz compiles it into one module with
// the HSNNEvents sources (it is not part of the package build).

/// The decoder with the daemon's default limits.
private let decoder = EventDecoder(limits: DecoderLimits())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let message = UnsafeRawBufferPointer(start: data, count: size)
    _ = decoder.decodeResult(message)
    _ = try? decoder.decodeUserQuery(message)
    return 0
}
