import HSNNEvents
import HSNNSynth
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Statistical checks that the stream has the structure it claims: drifting interests and a
/// click probability that additive and pairwise models cannot explain.
@Suite struct ClickModelStructureTests {
    /// Over users with at least 15 clicks in both the first and the last quarter of the stream:
    /// the mean cosine similarity of their genre click counts in the two quarters, and the share
    /// of users whose two most-clicked genres of the first quarter and of the last are disjoint.
    static func genreStability(driftsPerUser: Double) throws -> (cosine: Double, disjointTopTwo: Double, users: Int) {
        var config = smallConfig(seed: 21, impressions: 150_000)
        config.numUsers = 200
        config.targetCTR = 0.10
        config.driftsPerUser = driftsPerUser
        let stream = try SyntheticStream(config: config)
        let catalog = Catalog(stream)
        let quarter = stream.config.durationMs / 4
        var first = [[Double]](repeating: [Double](repeating: 0, count: config.numGenres), count: config.numUsers)
        var last = first
        for impression in impressions(of: stream) where impression.clicked {
            let elapsed = impression.timestampMs - stream.config.startMs
            for g in catalog.genres[impression.item] {
                if elapsed < quarter { first[impression.user][g] += 1 }
                if elapsed >= 3 * quarter { last[impression.user][g] += 1 }
            }
        }
        func topTwo(_ counts: [Double]) -> Set<Int> {
            Set(counts.indices.sorted { (counts[$0], -$0) > (counts[$1], -$1) }.prefix(2))
        }
        var cosine = 0.0, disjoint = 0, users = 0
        for u in 0..<config.numUsers where first[u].reduce(0, +) >= 15 && last[u].reduce(0, +) >= 15 {
            users += 1
            let dot = zip(first[u], last[u]).reduce(0) { $0 + $1.0 * $1.1 }
            let norms = (first[u].reduce(0) { $0 + $1 * $1 } * last[u].reduce(0) { $0 + $1 * $1 }).squareRoot()
            cosine += dot / norms
            if topTwo(first[u]).isDisjoint(with: topTwo(last[u])) { disjoint += 1 }
        }
        let n = Double(max(users, 1))
        return (cosine / n, Double(disjoint) / n, users)
    }

    @Test func interestsDrift() throws {
        let drifting = try Self.genreStability(driftsPerUser: 2)
        let stable = try Self.genreStability(driftsPerUser: 0)
        print("genre clicks, first vs last quarter: drift \(drifting), no drift \(stable)")
        #expect(drifting.users >= 50 && stable.users >= 50)
        #expect(drifting.cosine < stable.cosine - 0.08)
        #expect(drifting.disjointTopTwo > stable.disjointTopTwo + 0.2)
    }

    /// Held-out log loss of a pairwise logistic model, and of the same model plus the
    /// segment x category x price-tier cross.
    static func pairwiseVersusThreeWay(segmentInteraction: Double) throws -> (pairwise: Double, threeWay: Double) {
        var config = smallConfig(seed: 31, impressions: 200_000)
        config.effects.segmentInteraction = segmentInteraction
        config.targetCTR = 0.08
        let stream = try SyntheticStream(config: config)
        let catalog = Catalog(stream)
        let all = impressions(of: stream)
        let cut = all.count * 4 / 5
        let c = config.numCategories, p = config.numPriceTiers, s = config.numSegments
        // Feature layout: bias | user | category | tier | creator | genre | segment x category
        // | segment x tier | category x tier | country x category | (segment x category x tier).
        let offsets = [0, 1, 1 + config.numUsers].reduce(into: [Int]()) { $0.append($1) }
        var next = offsets.last!
        let category = next; next += c
        let tier = next; next += p
        let creator = next; next += config.numCreators
        let genre = next; next += config.numGenres
        let segCat = next; next += s * c
        let segTier = next; next += s * p
        let catTier = next; next += c * p
        let countryCat = next; next += config.numCountries * c
        let threeWay = next; next += s * c * p
        func features(_ x: LabelledImpression, withThreeWay: Bool) -> [Int] {
            let u = catalog.userSegment[x.user], co = catalog.userCountry[x.user]
            let ic = catalog.category[x.item], it = catalog.tier[x.item]
            var f = [0, 1 + x.user, category + ic, tier + it, creator + catalog.creator[x.item],
                     segCat + u * c + ic, segTier + u * p + it, catTier + ic * p + it, countryCat + co * c + ic]
            for g in catalog.genres[x.item] { f.append(genre + g) }
            if withThreeWay { f.append(threeWay + (u * c + ic) * p + it) }
            return f
        }
        func heldOutLogLoss(withThreeWay: Bool) -> Double {
            var model = SparseLogisticRegression(dimension: next, learningRate: 0.05, l2: 1e-6)
            for _ in 0..<2 {
                for x in all[..<cut] { model.train(features(x, withThreeWay: withThreeWay), clicked: x.clicked) }
            }
            var loss = 0.0
            for x in all[cut...] { loss += model.logLoss(features(x, withThreeWay: withThreeWay), clicked: x.clicked) }
            return loss / Double(all.count - cut)
        }
        return (heldOutLogLoss(withThreeWay: false), heldOutLogLoss(withThreeWay: true))
    }

    @Test func clickProbabilityHasAThreeWayInteraction() throws {
        let real = try Self.pairwiseVersusThreeWay(segmentInteraction: 2.0)
        let control = try Self.pairwiseVersusThreeWay(segmentInteraction: 0)
        let gain = (real.pairwise - real.threeWay) / real.pairwise
        let controlGain = (control.pairwise - control.threeWay) / control.pairwise
        print("held-out log loss pairwise -> +3-way cross: \(real) gain \(gain); control \(control) gain \(controlGain)")
        // The 3-way cross explains clearly more than every pairwise cross; without the effect it does not.
        #expect(gain > 0.02)
        #expect(controlGain < 0.005)
    }
}

/// Item and user attributes as indices, parsed back from the features the events carry.
struct Catalog {
    var category: [Int] = [], tier: [Int] = [], creator: [Int] = [], genres: [[Int]] = []
    var userSegment: [Int] = [], userCountry: [Int] = []

    init(_ stream: SyntheticStream) {
        func suffixNumber(_ value: FeatureValue?) -> Int {
            guard case .string(let s) = value else { return -1 }
            return Int(String(s.drop { !$0.isNumber })) ?? -1
        }
        for i in 0..<stream.itemCount {
            let f = stream.itemFeatures(index: i)
            category.append(suffixNumber(f["category"]))
            tier.append(suffixNumber(f["price_tier"]))
            creator.append(suffixNumber(f["creator"]))
            guard case .strings(let list) = f["genre"] else { fatalError("item \(i) has no genre list") }
            genres.append(list.map { Int(String($0.dropFirst()))! })
        }
        var segments: [String: Int] = [:]
        for u in 0..<stream.userCount {
            let f = stream.userFeatures(index: u)
            guard case .string(let segment) = f["segment"] else { fatalError("user \(u) has no segment") }
            if segments[segment] == nil { segments[segment] = segments.count }
            userSegment.append(segments[segment]!)
            userCountry.append(suffixNumber(f["country"]))
        }
    }
}

/// Logistic regression on one-hot features, trained by per-coordinate AdaGrad.
struct SparseLogisticRegression {
    private var weights: [Double]
    private var squaredGradients: [Double]
    private let learningRate: Double
    private let l2: Double

    init(dimension: Int, learningRate: Double, l2: Double) {
        weights = [Double](repeating: 0, count: dimension)
        squaredGradients = [Double](repeating: 1e-6, count: dimension)
        self.learningRate = learningRate
        self.l2 = l2
    }

    func probability(_ features: [Int]) -> Double {
        var z = 0.0
        for f in features { z += weights[f] }
        return 1 / (1 + exp(-z))
    }

    mutating func train(_ features: [Int], clicked: Bool) {
        let gradient = probability(features) - (clicked ? 1 : 0)
        for f in features {
            let g = gradient + l2 * weights[f]
            squaredGradients[f] += g * g
            weights[f] -= learningRate * g / squaredGradients[f].squareRoot()
        }
    }

    func logLoss(_ features: [Int], clicked: Bool) -> Double {
        let p = min(max(probability(features), 1e-7), 1 - 1e-7)
        return clicked ? -log(p) : -log(1 - p)
    }
}

