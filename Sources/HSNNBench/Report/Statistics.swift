/// Median of `values` (the mean of the two middle values for an even count), `ifEmpty` for none.
func median(_ values: [Double], ifEmpty: Double) -> Double {
    guard !values.isEmpty else { return ifEmpty }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Least-squares slope of y over x (NaN with fewer than two points).
func slope(_ points: [(Double, Double)]) -> Double {
    guard points.count >= 2 else { return .nan }
    let n = Double(points.count)
    let mx = points.map(\.0).reduce(0, +) / n
    let my = points.map(\.1).reduce(0, +) / n
    let sxx = points.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
    let sxy = points.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
    return sxx > 0 ? sxy / sxx : .nan
}

