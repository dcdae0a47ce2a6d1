import HSNNMath

extension LearnedIndex {
    /// Seeds the level-1 codebook with the vectors of `live` items spread evenly over them (the
    /// node embeddings are then learned jointly with the model) and centers the item vectors on
    /// their mean projection. `towerOutputs` gives the item tower outputs of up to `chunkSize`
    /// items; `live` holds at least one item per level-1 node.
    func seedCodebook(live: [Int32], chunkSize: Int, catalog: ItemCatalog, nowMs: Int64, workspace iws: IndexWorkspace,
                      towerOutputs: (ArraySlice<Int32>) -> Matrix) {
        let k = sizes[0]
        // Center on the mean projected vector of the catalog.
        var mean = [Float](repeating: 0, count: dim)
        var start = 0
        while start < live.count {
            let chunk = live[start..<min(start + chunkSize, live.count)]
            projection.forward(towerOutputs(chunk), into: iws.vRaw)
            for r in 0..<chunk.count { for j in 0..<dim { mean[j] += iws.vRaw[r, j] } }
            start += chunkSize
        }
        for j in 0..<dim { mean[j] /= Float(live.count) }
        center = mean
        // Seeds: the item vectors (with their attribute signatures) of evenly spread items.
        let seeds = (0..<k).map { live[($0 * live.count) / k] }
        let book = codebooks[0].value
        start = 0
        while start < k {
            let chunk = seeds[start..<min(start + chunkSize, k)]
            writeSignatures(chunk, catalog: catalog, nowMs: nowMs, into: iws)
            forward(items: towerOutputs(chunk), alpha: 1, hard: true, iws)
            for r in 0..<chunk.count { book.row(start + r).update(from: iws.v.row(r), count: dim) }
            start += chunkSize
        }
        codebookSeeded = true
        codebookVersion += 1
    }

    /// Moves every empty level-1 node onto an item of the most crowded leaves (the usual remedy
    /// for dead codes in learned quantisers), resetting its optimizer moments. Returns the count.
    @discardableResult
    func reseedEmptyNodes() -> Int {
        let k = sizes[0]
        var size = [Int](repeating: 0, count: k)
        for i in 0..<memberPosition.count where memberPosition[i] >= 0 { size[Int(path[i * levels])] += 1 }
        let empty = (0..<k).filter { size[$0] == 0 }
        guard !empty.isEmpty else { return 0 }
        // Donor items: members of the largest level-1 nodes, taken round-robin, deterministic.
        let order = (0..<k).sorted { size[$0] > size[$1] || (size[$0] == size[$1] && $0 < $1) }
        var donors: [Int] = []
        var byNode = [[Int]](repeating: [], count: k)
        for i in 0..<memberPosition.count where memberPosition[i] >= 0 { byNode[Int(path[i * levels])].append(i) }
        var round = 1
        while donors.count < empty.count && round < 64 {
            for n in order where size[n] > round && donors.count < empty.count {
                let list = byNode[n]
                donors.append(list[(round * 7919) % list.count])
            }
            round += 1
        }
        let book = codebooks[0]
        codebookVersion += 1
        for (n, donor) in zip(empty, donors) {
            let v = itemVectors.withUnsafeBufferPointer { $0.baseAddress! + donor * dim }
            for j in 0..<dim {
                // A small deterministic offset so the new node does not tie with the donor's node.
                book.value[n, j] = v[j] + 0.01 * Float((j &* 31 &+ n) % 7 - 3)
                book.m[n, j] = 0
                book.v[n, j] = 0
            }
        }
        reseeded += Int64(min(empty.count, donors.count))
        return min(empty.count, donors.count)
    }
}

extension RetrievalModel {
    /// Seeds the index's level-1 codebook from the live items (see
    /// ``LearnedIndex/seedCodebook(live:chunkSize:catalog:nowMs:workspace:towerOutputs:)``) and
    /// maps every item. Runs before the first batch; waits until there are enough items.
    func seedCodebook() {
        guard let index, let iws = serving.indexWS else { return }
        var live: [Int32] = []
        for i in 0..<catalog.count where catalog.live[i] { live.append(Int32(i)) }
        guard live.count >= index.sizes[0] else { return }
        index.ensureCapacity(items: catalog.count)
        index.seedCodebook(live: live, chunkSize: serving.capacity, catalog: catalog, nowMs: counters.nowMs, workspace: iws,
                           towerOutputs: itemTowerOutputs)
        remapAll()
    }
}
