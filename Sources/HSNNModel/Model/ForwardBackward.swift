import HSNNMath

extension RetrievalModel {
    struct Losses {
        var total: Float = 0
        var item: Float = 0
        var index: Float = 0
        /// Item-level retrieval loss (sampled softmax) and the index levels' sum.
        var retrieval: Float = 0
        var indexRetrieval: Float = 0
        var auxiliary: Float = 0
        var reconstruction: Float = 0
        var balance: Float = 0
    }

    /// Forward pass over the featurised batch (soft assignments, or the serving path when
    /// `hard`); fills `batch.logits` per level. Returns nothing; see ``forwardBackward``.
    func forward(hard: Bool) {
        let ws = batch, n = ws.count
        let L = levelCount
        ws.levelOutput.rows = L
        ws.logits.rows = L
        ws.retrievalOutput.rows = L
        ws.retrievalLogits.rows = L
        if config.kind == .twoTower {
            let z = itemModel.forward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: nil, userRowOf: ws.userRowOf, ws.itemWS)
            for j in 0..<n {
                ws.levelOutput[0, j] = z[j, 0]; ws.logits[0, j] = z[j, 0]
                ws.retrievalOutput[0, j] = z[j, 1]; ws.retrievalLogits[0, j] = z[j, 1]
            }
            return
        }
        let itemLogits = itemModel.forward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: ws.crossIn, userRowOf: ws.userRowOf, ws.itemWS)
        for j in 0..<n { ws.levelOutput[L - 1, j] = itemLogits[j, 0]; ws.retrievalOutput[L - 1, j] = itemLogits[j, 1] }
        guard let index, let iws = ws.indexWS else { return }
        index.writeSignatures(ws.items.prefix(n), catalog: catalog, nowMs: counters.nowMs, into: iws)
        index.forward(items: ws.itemWS.item.output, alpha: alpha, hard: hard, iws)
        let e = config.embeddingDim, dv = config.indexDim
        for l in 0..<levelModels.count {
            // Level item input: [path embedding e_l, representative item's features].
            let lin = ws.levelItemIn[l]
            ws.repBatch[l].reset(fields: layout.itemSlots)
            var reps = [Int32](repeating: -1, count: n)
            var nodes = [Int](repeating: 0, count: n)
            for j in 0..<n {
                let path = iws.hard + j * index.levels
                var node = 0
                for s in 0...l { node = node * index.sizes[s] + Int(path[s]) }
                nodes[j] = node
                let rep = index.representatives[l][node]
                reps[j] = rep
                if rep >= 0 {
                    catalog.append(Int(rep), to: &ws.repBatch[l], slots: layout.itemSlots, buckets: config.hashBuckets)
                } else {
                    catalog.appendEmpty(to: &ws.repBatch[l], slots: layout.itemSlots)
                }
            }
            itemTable.forward(ws.repBatch[l], pooling: .mean, into: lin, columnOffset: dv)
            let pe = iws.pathEmbedding[l]
            for j in 0..<n { lin.row(j).update(from: pe.row(j), count: dv) }
            let off = dv + layout.itemSlots * e, dw = config.maxDenseFeatures
            for j in 0..<n {
                let row = lin.row(j) + off
                if reps[j] < 0 { row.update(repeating: 0, count: dw) } else {
                    catalog.dense.withUnsafeBufferPointer { row.update(from: $0.baseAddress! + Int(reps[j]) * dw, count: dw) }
                }
            }
            let inter = ws.levelInteractionIn[l]
            inter.rows = n
            for j in 0..<n {
                inter.row(j).update(from: ws.userIn.row(Int(ws.userRowOf[j])), count: userWidth)
                (inter.row(j) + userWidth).update(from: lin.row(j), count: levelItemWidth)
                if config.nodeCrossFeatures {
                    cross.writeNode(user: cross.users[ws.users[j]], profiles: index.profiles, level: l, node: nodes[j], catalog: catalog,
                                    nowMs: ws.times[j], into: inter.row(j) + userWidth + levelItemWidth)
                }
            }
            let o = levelModels[l].forward(userIn: ws.userIn, itemIn: lin, interactionIn: inter, userRowOf: ws.userRowOf, ws.levelWS[l])
            for j in 0..<n { ws.levelOutput[l, j] = o[j, 0]; ws.retrievalOutput[l, j] = o[j, 1] }
        }
        // Ensemble logits of both heads.
        for (w, b, out, z) in [(ensembleWeight, ensembleBias, ws.levelOutput, ws.logits),
                               (retrievalEnsembleWeight, retrievalEnsembleBias, ws.retrievalOutput, ws.retrievalLogits)] {
            for l in 0..<L {
                let bl = b.value.base[l]
                for j in 0..<n {
                    var v = bl
                    for t in 0...l { v += w.value[l, t] * out[t, j] }
                    z[l, j] = v
                }
            }
        }
        addClickPriors()
    }

    /// Adds each row's click prior (``CrossFeatureStore/priorLogit(item:catalog:)``) to the
    /// item level's click logits: the network learns how a user departs from the item's record
    /// rather than the record itself, so a frozen model keeps each item's record as its
    /// baseline. A constant offset: the gradients are those of the logits with it. Like the
    /// other counter features, the two-tower baseline (towers and a dot product) does without.
    private func addClickPriors() {
        guard config.clickPrior else { return }
        let ws = batch
        let z = ws.logits.row(levelCount - 1)
        for j in 0..<ws.count { z[j] += cross.priorLogit(item: Int(ws.items[j]), catalog: catalog) }
    }

    /// Forward pass plus the full objective; with `withGradients`, back-propagates it into every
    /// parameter's gradient (no update). Returns the loss terms.
    @discardableResult
    func forwardBackward(withGradients: Bool, hard: Bool) -> Losses {
        forward(hard: hard)
        let ws = batch, n = ws.count, L = levelCount
        var losses = Losses()
        ws.dLogits.rows = L
        ws.dRetrievalLogits.rows = L
        let wIdx = indexLossWeight
        let nImp = ws.impressionRows
        ws.dLogits.zero()
        ws.labels.withUnsafeBufferPointer { y in
            ws.weights.withUnsafeBufferPointer { w in
                for l in 0..<L {
                    let weight: Float = l == L - 1 ? 1 : wIdx
                    let value = Loss.bceWithLogits(logits: ws.logits.row(l), labels: y.baseAddress!, weights: w.baseAddress!, count: nImp,
                                                   grad: ws.dLogits.row(l), scale: weight)
                    if l == L - 1 { losses.item = value } else { losses.index += value }
                    losses.total += weight * value
                }
            }
        }
        // Retrieval objective: sampled softmax with the log-Q correction, per level.
        let wRetrieval = Float(config.retrievalWeight)
        ws.logQ.withUnsafeBufferPointer { q in
            ws.masked.withUnsafeBufferPointer { m in
                for l in 0..<L {
                    let weight: Float = l == L - 1 ? wRetrieval : (config.retrievalIndexLevels ? wRetrieval * wIdx : 0)
                    guard weight > 0, !ws.retrievalGroups.isEmpty else {
                        ws.dRetrievalLogits.row(l).update(repeating: 0, count: n)
                        continue
                    }
                    let value = Loss.sampledSoftmax(logits: ws.retrievalLogits.row(l), logQ: q.baseAddress!, masked: m.baseAddress!,
                                                    groups: ws.retrievalGroups, rowCount: n, grad: ws.dRetrievalLogits.row(l), scale: weight)
                    if l == L - 1 { losses.retrieval = value } else { losses.indexRetrieval += value }
                    losses.total += weight * value
                }
            }
        }
        guard config.kind == .hsnn, let index, let iws = ws.indexWS else {
            if withGradients {
                ws.itemWS.dLogits.rows = n
                for j in 0..<n { ws.itemWS.dLogits[j, 0] = ws.dLogits[0, j]; ws.itemWS.dLogits[j, 1] = ws.dRetrievalLogits[0, j] }
                ws.dUserIn.rows = ws.userIn.rows
                itemModel.backward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: nil, userRowOf: ws.userRowOf, ws.itemWS,
                                   dUserIn: ws.dUserIn, dItemIn: ws.dItemIn, dInteractionIn: nil)
                userTable.backward(ws.userBatch, pooling: .mean, outputGrad: ws.dUserIn)
                itemTable.backward(ws.itemBatch, pooling: .mean, outputGrad: ws.dItemIn)
            }
            return losses
        }
        // Auxiliary MSE of each index level's interaction tower to the item level's (a constant target).
        let d = config.dim
        let target = frozenAuxiliaryTarget ?? ws.itemWS.interaction!.output
        let wAux = Float(config.auxiliaryWeight)
        for l in 0..<levelModels.count {
            let x = ws.levelWS[l].interaction!.output
            ws.auxGrad[l].rows = n
            let v = Loss.mse(x.base, target.base, rows: n, width: d, grad: ws.auxGrad[l].base, scale: wAux)
            losses.auxiliary += v
            losses.total += wAux * v
        }
        if !withGradients {
            let b = index.balance(iws, rows: n).value
            var rec: Float = 0
            let last = iws.pathEmbedding[index.levels - 1]
            for i in 0..<(n * config.indexDim) { let x = last.base[i] - iws.v.base[i]; rec += x * x }
            losses.reconstruction = rec / Float(n)
            losses.balance = b
            losses.total += Float(config.reconstructionWeight) * losses.reconstruction + Float(config.balanceWeight) * b
            return losses
        }
        // Ensemble backward: dO_t = sum_{l >= t} W[l, t] dz_l.
        ws.dOutput.rows = L
        ws.dRetrievalOutput.rows = L
        for (w, b, out, dz, dOut) in [(ensembleWeight, ensembleBias, ws.levelOutput, ws.dLogits, ws.dOutput),
                                      (retrievalEnsembleWeight, retrievalEnsembleBias, ws.retrievalOutput, ws.dRetrievalLogits,
                                       ws.dRetrievalOutput)] {
            for t in 0..<L {
                for j in 0..<n {
                    var g: Float = 0
                    for l in t..<L { g += w.value[l, t] * dz[l, j] }
                    dOut[t, j] = g
                }
            }
            for l in 0..<L {
                var db: Float = 0
                for j in 0..<n { db += dz[l, j] }
                b.grad.base[l] += db
                for t in 0...l {
                    var s: Float = 0
                    for j in 0..<n { s += dz[l, j] * out[t, j] }
                    w.grad[l, t] += s
                }
            }
        }
        // Index levels.
        let nu = ws.userIn.rows
        ws.dUserIn.rows = nu
        ws.dUserIn.zero()
        let dv = config.indexDim
        for l in 0..<levelModels.count {
            let lws = ws.levelWS[l]
            lws.dLogits.rows = n
            for j in 0..<n { lws.dLogits[j, 0] = ws.dOutput[l, j]; lws.dLogits[j, 1] = ws.dRetrievalOutput[l, j] }
            levelModels[l].backward(userIn: ws.userIn, itemIn: ws.levelItemIn[l], interactionIn: ws.levelInteractionIn[l],
                                    userRowOf: ws.userRowOf, lws,
                                    extraInteractionGrad: ws.auxGrad[l], dUserIn: ws.dUserTmp, dItemIn: ws.dLevelItemIn[l],
                                    dInteractionIn: ws.dLevelInteractionIn[l])
            let dInter = ws.dLevelInteractionIn[l], dItem = ws.dLevelItemIn[l]
            let pg = iws.pathGrad[l]
            pg.rows = n
            for j in 0..<nu { axpy(1, ws.dUserTmp.row(j), ws.dUserIn.row(j), userWidth) }
            for j in 0..<n {
                axpy(1, dInter.row(j), ws.dUserIn.row(Int(ws.userRowOf[j])), userWidth)
                axpy(1, dInter.row(j) + userWidth, dItem.row(j), levelItemWidth)
                pg.row(j).update(from: dItem.row(j), count: dv)
            }
            itemTable.backward(ws.repBatch[l], pooling: .mean, outputGrad: dItem, columnOffset: dv)
        }
        let idx = index.backward(items: ws.itemWS.item.output, alpha: alpha, reconstructionWeight: Float(config.reconstructionWeight),
                                 balanceWeight: Float(config.balanceWeight), iws)
        losses.reconstruction = idx.reconstruction
        losses.balance = idx.balance
        losses.total += Float(config.reconstructionWeight) * idx.reconstruction + Float(config.balanceWeight) * idx.balance
        // Item level, with the index's gradient on the item tower output.
        let iwsItem = ws.itemWS
        iwsItem.dLogits.rows = n
        for j in 0..<n { iwsItem.dLogits[j, 0] = ws.dOutput[L - 1, j]; iwsItem.dLogits[j, 1] = ws.dRetrievalOutput[L - 1, j] }
        itemModel.backward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: ws.crossIn, userRowOf: ws.userRowOf, iwsItem,
                           extraItemGrad: iws.dItem, dUserIn: ws.dUserTmp, dItemIn: ws.dItemIn, dInteractionIn: nil)
        for j in 0..<nu { axpy(1, ws.dUserTmp.row(j), ws.dUserIn.row(j), userWidth) }
        userTable.backward(ws.userBatch, pooling: .mean, outputGrad: ws.dUserIn)
        itemTable.backward(ws.itemBatch, pooling: .mean, outputGrad: ws.dItemIn)
        return losses
    }
}
