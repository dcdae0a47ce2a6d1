// Codable conformances used for state snapshots (joiner pending impressions, catalogs).
// The wire format on Kafka and in files is the JSON-lines schema handled by the event decoder.

extension FeatureValue: Codable {
    private enum CodingKeys: String, CodingKey { case s, l, n }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let s = try c.decodeIfPresent(String.self, forKey: .s) {
            self = .string(s)
        } else if let l = try c.decodeIfPresent([String].self, forKey: .l) {
            self = .strings(l)
        } else {
            self = .number(try c.decode(Double.self, forKey: .n))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .string(let s): try c.encode(s, forKey: .s)
        case .strings(let l): try c.encode(l, forKey: .l)
        case .number(let n): try c.encode(n, forKey: .n)
        }
    }
}

extension Features: Codable {
    private struct Entry: Codable {
        var k: String
        var v: FeatureValue
    }

    public init(from decoder: any Decoder) throws {
        let entries = try [Entry](from: decoder)
        self.init(entries.map { (name: $0.k, value: $0.v) })
    }

    public func encode(to encoder: any Encoder) throws {
        try entries.map { Entry(k: $0.name, v: $0.value) }.encode(to: encoder)
    }
}

