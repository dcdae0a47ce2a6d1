import Foundation

/// `value` with `decimals` decimals.
func f(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
/// A percentage change with its sign and one decimal (`+3.2`).
func sign(_ value: Double) -> String { (value >= 0 ? "+" : "") + f(value, 1) }
/// Numbers with two decimals, separated by spaces.
func list(_ values: [Double]) -> String { values.map { f($0, 2) }.joined(separator: " ") }
/// Left-aligned in `width` columns (one space after when longer).
func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
/// Right-aligned in `width` columns (one space before when longer).
func lpad(_ s: String, _ width: Int) -> String { s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s }
