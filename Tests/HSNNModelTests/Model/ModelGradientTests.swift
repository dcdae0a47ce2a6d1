import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

/// A tiny model whose whole objective (per-level click BCE and retrieval sampled softmax with
/// its log-Q correction, both ensembles, auxiliary MSE, LTI with residual levels,
/// reconstruction and balance) is checked against finite differences.
@Test(arguments: [(ModelKind.hsnn, 3), (ModelKind.hsnn, 2), (ModelKind.twoTower, 2)])
func wholeModelGradientMatchesFiniteDifferences(kind: ModelKind, levels: Int) throws {
    let model = try RetrievalModel(config: tinyConfig(kind: kind, levels: levels))
    for e in tinyItems() { model.apply(e) }
    // A few trained batches so cross features, the window and the ensemble are non-trivial.
    model.train(tinyExamples(count: 24))
    let batch = tinyExamples(count: 8, offset: 100)
    let sample = model.negatives.sample(batch, catalog: model.catalog)
    #expect(!sample.positives.isEmpty && sample.negativeItems.count == sample.positives.count * 4)
    func featurize() { model.featurizeStep(batch, sample) }
    featurize()
    #expect(model.batch.count == 8 + sample.negativeItems.count)
    #expect(Set(model.batch.logQ.prefix(model.batch.count)).count > 1, "the log-Q correction varies by item")
    let losses = model.forwardBackward(withGradients: true, hard: false)
    #expect(losses.retrieval > 0)
    if kind == .hsnn { #expect(losses.indexRetrieval > 0) }
    if kind == .hsnn { model.frozenAuxiliaryTarget = model.batch.itemWS.interaction!.output.copy() }
    func loss() -> Double { featurize(); return Double(model.forwardBackward(withGradients: false, hard: false).total) }
    var rng = SeededRandom(seed: 3)
    var checked = 0
    func check(_ name: String, _ value: Matrix, _ analytic: [Float], indices: [Int]) {
        for i in indices {
            let saved = value.base[i]
            let eps: Float = 5e-4
            value.base[i] = saved + eps
            let plus = loss()
            value.base[i] = saved - eps
            let minus = loss()
            value.base[i] = saved
            let numeric = (plus - minus) / Double(2 * eps)
            let a = Double(analytic[i])
            #expect(abs(numeric - a) <= 2e-3 + 0.05 * abs(a), "\(name)[\(i)]: numeric \(numeric) vs analytic \(a)")
            checked += 1
        }
    }
    for p in model.denseParameters {
        let grads = p.grad.toArray()
        let picks = (0..<min(4, p.count)).map { _ in Int(rng.next() % UInt64(p.count)) }
        check(p.name, p.value, grads, indices: picks)
    }
    for table in [model.userTable, model.itemTable] {
        let grads = table.gradient.toArray()
        for r in table.touchedRows.prefix(4) {
            check(table.name, table.table, grads, indices: (0..<table.dim).map { Int(r) * table.dim + $0 })
        }
    }
    #expect(checked > 20)
}
