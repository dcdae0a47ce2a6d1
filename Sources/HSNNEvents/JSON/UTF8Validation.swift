// Whole-message UTF-8 validation: a word-at-a-time ASCII fast path, then a strict validator
// (no overlong forms, no surrogates, nothing above U+10FFFF).

/// Returns the offset of the first byte that makes `bytes` invalid UTF-8, or nil when valid.
func firstInvalidUTF8Offset(_ base: UnsafePointer<UInt8>, count: Int) -> Int? {
    var i = 0
    let raw = UnsafeRawPointer(base)
    // ASCII fast path, 16 bytes per step.
    while i + 16 <= count {
        let a = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let b = raw.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
        if (a | b) & 0x8080_8080_8080_8080 != 0 { break }
        i += 16
    }
    while i < count {
        let lead = base[i]
        if lead < 0x80 {
            i += 1
            continue
        }
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: return i
        }
        guard i + length <= count else { return i }
        let second = base[i + 1]
        guard second >= low && second <= high else { return i }
        if length >= 3 { guard base[i + 2] & 0xC0 == 0x80 else { return i } }
        if length == 4 { guard base[i + 3] & 0xC0 == 0x80 else { return i } }
        i += length
    }
    return nil
}
