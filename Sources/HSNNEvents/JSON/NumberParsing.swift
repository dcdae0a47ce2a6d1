// Decimal-to-binary conversion for JSON numbers that were already validated by the scanner.

/// Exact powers of ten representable as Double (10^0 ... 10^22).
private let exactPowersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// Converts a grammatically valid JSON number to the nearest Double.
///
/// Numbers with at most 19 significant digits, a mantissa below 2^53 and a decimal exponent
/// within ±22 are converted exactly with one correctly rounded multiplication or division
/// (Clinger's fast path); anything else goes through the standard library's correctly
/// rounded parser. Overflowing numbers (`1e999`) yield ±infinity.
func parseJSONDouble(_ p: UnsafePointer<UInt8>, count: Int) -> Double {
    var i = 0
    let negative = p[0] == UInt8(ascii: "-")
    if negative { i = 1 }
    var mantissa: UInt64 = 0
    var digits = 0
    var exponent = 0
    var slowPath = false
    while i < count, p[i] &- UInt8(ascii: "0") < 10 {
        if digits < 19 {
            mantissa = mantissa &* 10 &+ UInt64(p[i] &- UInt8(ascii: "0"))
            if mantissa != 0 { digits += 1 }
        } else {
            slowPath = true
        }
        i += 1
    }
    if i < count, p[i] == UInt8(ascii: ".") {
        i += 1
        while i < count, p[i] &- UInt8(ascii: "0") < 10 {
            if digits < 19 {
                mantissa = mantissa &* 10 &+ UInt64(p[i] &- UInt8(ascii: "0"))
                if mantissa != 0 { digits += 1 }
                exponent -= 1
            } else {
                slowPath = true
            }
            i += 1
        }
    }
    if i < count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
        i += 1
        var exponentNegative = false
        if p[i] == UInt8(ascii: "+") {
            i += 1
        } else if p[i] == UInt8(ascii: "-") {
            exponentNegative = true
            i += 1
        }
        var explicit = 0
        while i < count, p[i] &- UInt8(ascii: "0") < 10 {
            if explicit < 100_000 { explicit = explicit * 10 + Int(p[i] &- UInt8(ascii: "0")) }
            i += 1
        }
        exponent += exponentNegative ? -explicit : explicit
    }
    if !slowPath {
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        if mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            if exponent < 0 { value /= exactPowersOfTen[-exponent] } else { value *= exactPowersOfTen[exponent] }
            return negative ? -value : value
        }
    }
    let text = String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    // The scanner only passes JSON numbers, which the standard library always accepts.
    return Double(text) ?? .nan
}
