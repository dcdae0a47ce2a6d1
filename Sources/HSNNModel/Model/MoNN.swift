import HSNNMath

/// A Mixture of Neural Networks scorer (one per level of the hierarchy):
/// user tower (`num_u x d`), item tower (`num_i x d`), interaction tower (`1 x d`) and an
/// over-arch MLP over the `num_u x num_i` dot products and the interaction output.
///
/// It has two heads: the click logit (trained with BCE on impressions, calibrated) and the
/// retrieval logit (trained with the sampled softmax over the catalog, used to rank). Without an
/// over-arch (the two-tower baseline: `num_u = num_i = 1`, no interaction tower) the click
/// logit is the dot product plus a bias and the retrieval logit the dot product.
final class MoNN {
    let name: String
    let userRows: Int
    let itemRows: Int
    let dim: Int
    let userTower: MLP
    let itemTower: MLP
    let interaction: MLP?
    let overArch: MLP?
    let dotBias: DenseParameter
    /// Logits per pair: column 0 the click logit, column 1 the retrieval logit.
    static let heads = 2

    init(name: String, userInputs: Int, itemInputs: Int, interactionInputs: Int?, size: MoNNSize, dim: Int,
         withOverArch: Bool, layerNorm: Bool, rng: inout SeededRandom) {
        self.name = name
        userRows = size.userRows
        itemRows = size.itemRows
        self.dim = dim
        // Tower outputs start small so the initial dot products do not dominate the logit.
        userTower = MLP(name: "\(name).user_tower", sizes: [userInputs] + size.towerHidden + [size.userRows * dim],
                        layerNorm: layerNorm, finalGain: 0.5, rng: &rng)
        itemTower = MLP(name: "\(name).item_tower", sizes: [itemInputs] + size.towerHidden + [size.itemRows * dim],
                        layerNorm: layerNorm, finalGain: 0.5, rng: &rng)
        if let interactionInputs {
            interaction = MLP(name: "\(name).interaction_tower", sizes: [interactionInputs] + size.interactionHidden + [dim],
                              layerNorm: layerNorm, rng: &rng)
        } else {
            interaction = nil
        }
        if withOverArch {
            overArch = MLP(name: "\(name).over_arch",
                           sizes: [size.userRows * size.itemRows + (interactionInputs == nil ? 0 : dim)] + size.overHidden + [MoNN.heads],
                           layerNorm: layerNorm, finalGain: 0.1, rng: &rng)
        } else {
            overArch = nil
        }
        dotBias = DenseParameter(name: "\(name).dot_bias", rows: 1, cols: 1)
    }

    var parameters: [DenseParameter] {
        var p = userTower.parameters + itemTower.parameters
        if let interaction { p += interaction.parameters }
        if let overArch { p += overArch.parameters } else { p.append(dotBias) }
        return p
    }

    var pairs: Int { userRows * itemRows }
    var overInputs: Int { pairs + (interaction == nil ? 0 : dim) }

    func makeWorkspace(capacity: Int) -> MoNNWorkspace { MoNNWorkspace(self, capacity: capacity) }

    /// Multiply-accumulates per pair scored by the head (dots + over-arch), for FLOP accounting.
    var headMACs: Int {
        pairs * dim + (overArch.map { $0.layers.reduce(0) { $0 + $1.inputs * $1.outputs } } ?? 0)
    }

    /// Runs the towers on the used rows and then the head; returns the logits (`rows x 2`:
    /// click, retrieval), one row per row of `itemIn`. Row `r` pairs item row `r` with user row
    /// `userRowOf[r]` (`userIn` may hold fewer, distinct users), or user row `r` without a map.
    @discardableResult
    func forward(userIn: Matrix, itemIn: Matrix, interactionIn: Matrix?, userRowOf: UnsafePointer<Int32>? = nil,
                 _ ws: MoNNWorkspace) -> Matrix {
        let u = userTower.forward(userIn, ws.user)
        let i = itemTower.forward(itemIn, ws.item)
        var x: Matrix? = nil
        if let interaction, let interactionIn { x = interaction.forward(interactionIn, ws.interaction!) }
        return head(users: u, broadcastUser: false, items: i, interaction: x, userRowOf: userRowOf, ws)
    }

    /// The head on precomputed tower outputs: item row `r` is paired with user row
    /// `userRowOf[r]` (row `r` without a map), or with the single user row when `broadcastUser`.
    @discardableResult
    func head(users u: Matrix, broadcastUser: Bool, items i: Matrix, interaction x: Matrix?,
              userRowOf: UnsafePointer<Int32>? = nil, _ ws: MoNNWorkspace) -> Matrix {
        let n = i.rows, nu = userRows, ni = itemRows, d = dim, np = pairs
        ws.overIn.rows = n
        ws.logits.rows = n
        let oc = ws.overIn.cols
        for r in 0..<n {
            let ur = broadcastUser ? u.base : u.row(userRowOf.map { Int($0[r]) } ?? r)
            let ir = i.row(r)
            let o = ws.overIn.base + r * oc
            for a in 0..<nu {
                for b in 0..<ni { o[a * ni + b] = dot(ur + a * d, ir + b * d, d) }
            }
            if let x { (o + np).update(from: x.row(r), count: d) }
        }
        if let overArch {
            let out = overArch.forward(ws.overIn, ws.over!)
            ws.logits.base.update(from: out.base, count: n * MoNN.heads)
        } else {
            let b = dotBias.value.base[0]
            for r in 0..<n {
                var s: Float = 0
                for p in 0..<np { s += ws.overIn.base[r * oc + p] }
                ws.logits[r, 0] = s + b
                ws.logits[r, 1] = s
            }
        }
        return ws.logits
    }

    /// Back-propagates `ws.dLogits` through the last ``forward``.
    ///
    /// `extraItemGrad` / `extraInteractionGrad` are added to the gradients of the item tower and
    /// interaction tower outputs (from losses outside this MoNN). Input gradients are written
    /// to `dUserIn`, `dItemIn`, `dInteractionIn` when given.
    func backward(userIn: Matrix, itemIn: Matrix, interactionIn: Matrix?, userRowOf: UnsafePointer<Int32>? = nil,
                  _ ws: MoNNWorkspace, extraItemGrad: Matrix? = nil, extraInteractionGrad: Matrix? = nil,
                  dUserIn: Matrix?, dItemIn: Matrix?, dInteractionIn: Matrix?) {
        let n = itemIn.rows, nu = userRows, ni = itemRows, d = dim, np = pairs
        let oc = ws.overIn.cols
        ws.dOverIn.rows = n
        if let overArch {
            ws.dLogits.rows = n
            overArch.backward(input: ws.overIn, outputGrad: ws.dLogits, ws.over!, inputGrad: ws.dOverIn)
        } else {
            var db: Float = 0
            for r in 0..<n {
                let g = ws.dLogits[r, 0] + ws.dLogits[r, 1]
                db += ws.dLogits[r, 0]
                for p in 0..<np { ws.dOverIn.base[r * oc + p] = g }
            }
            dotBias.grad.base[0] += db
        }
        let u = ws.user.output, i = ws.item.output
        ws.dU.rows = userIn.rows
        ws.dI.rows = n
        ws.dU.zero()
        if let extraItemGrad { ws.dI.copy(from: extraItemGrad) } else { ws.dI.zero() }
        for r in 0..<n {
            let g = ws.dOverIn.base + r * oc
            let ru = userRowOf.map { Int($0[r]) } ?? r
            let ur = u.row(ru), ir = i.row(r), du = ws.dU.row(ru), di = ws.dI.row(r)
            for a in 0..<nu {
                for b in 0..<ni {
                    let gab = g[a * ni + b]
                    if gab == 0 { continue }
                    axpy(gab, ir + b * d, du + a * d, d)
                    axpy(gab, ur + a * d, di + b * d, d)
                }
            }
        }
        userTower.backward(input: userIn, outputGrad: ws.dU, ws.user, inputGrad: dUserIn)
        itemTower.backward(input: itemIn, outputGrad: ws.dI, ws.item, inputGrad: dItemIn)
        if let interaction, let interactionIn {
            ws.dX.rows = n
            for r in 0..<n {
                let dx = ws.dX.row(r)
                dx.update(from: ws.dOverIn.base + r * oc + np, count: d)
                if let extraInteractionGrad { axpy(1, extraInteractionGrad.row(r), dx, d) }
            }
            interaction.backward(input: interactionIn, outputGrad: ws.dX, ws.interaction!, inputGrad: dInteractionIn)
        }
    }
}

/// Preallocated buffers of one ``MoNN`` for batches of up to `capacity` rows.
final class MoNNWorkspace {
    let capacity: Int
    let user: MLPWorkspace
    let item: MLPWorkspace
    let interaction: MLPWorkspace?
    let over: MLPWorkspace?
    let overIn: Matrix
    let dOverIn: Matrix
    let logits: Matrix
    let dLogits: Matrix
    let dU: Matrix
    let dI: Matrix
    let dX: Matrix

    init(_ m: MoNN, capacity: Int) {
        self.capacity = capacity
        user = m.userTower.makeWorkspace(capacity: capacity)
        item = m.itemTower.makeWorkspace(capacity: capacity)
        interaction = m.interaction?.makeWorkspace(capacity: capacity)
        over = m.overArch?.makeWorkspace(capacity: capacity)
        overIn = Matrix(rows: capacity, cols: m.overInputs)
        dOverIn = Matrix(rows: capacity, cols: m.overInputs)
        logits = Matrix(rows: capacity, cols: MoNN.heads)
        dLogits = Matrix(rows: capacity, cols: MoNN.heads)
        dU = Matrix(rows: capacity, cols: m.userRows * m.dim)
        dI = Matrix(rows: capacity, cols: m.itemRows * m.dim)
        dX = Matrix(rows: capacity, cols: m.dim)
    }
}
