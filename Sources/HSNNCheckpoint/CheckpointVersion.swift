import Foundation

/// The number of a checkpoint version; its folder is `v` followed by eight digits (`v00000042`).
public struct CheckpointVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Largest version number that fits the eight-digit folder name.
    public static let maximum = 99_999_999

    /// The version number, 1 ... ``maximum``.
    public let number: Int

    /// A version from its number.
    /// - Throws: ``CheckpointError`` when `number` is outside 1 ... ``maximum``.
    public init(_ number: Int) throws {
        guard (1...Self.maximum).contains(number) else {
            throw CheckpointError.invalid("checkpoint version \(number) is out of range",
                                          remedy: "Versions are numbered 1 to \(Self.maximum)")
        }
        self.number = number
    }

    init(unchecked number: Int) { self.number = number }

    /// Parses what an operator types: `42`, `v42`, `v00000042`, or a version folder's path
    /// (`/var/lib/hsnn/checkpoints/v00000042/`), whose last component is used.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/invalidArgument`` when it is none of these.
    public init(parsing text: String) throws {
        var name = Substring(text.trimmingCharacters(in: .whitespaces))
        while name.count > 1, name.hasSuffix("/") { name = name.dropLast() }
        if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
        if name.first == "v" || name.first == "V" { name = name.dropFirst() }
        guard !name.isEmpty, name.count <= 8, name.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(name), number >= 1 else {
            throw CheckpointError.invalid("'\(text)' is not a checkpoint version",
                                          remedy: "Give a version as 42, v00000042 or the path of a version folder; `hsnn checkpoint list DIR` shows them")
        }
        self.number = number
    }

    /// The version of a folder named exactly `vNNNNNNNN`, else `nil`.
    init?(folderName: some StringProtocol) {
        guard folderName.utf8.count == 9, folderName.first == "v" else { return nil }
        let digits = folderName.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(digits), number >= 1 else { return nil }
        self.number = number
    }

    /// The folder name, `v` and eight digits.
    public var folderName: String {
        let digits = String(number)
        return "v" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The version after this one.
    /// - Throws: ``CheckpointError`` when the numbering is exhausted.
    public func next() throws -> CheckpointVersion { try CheckpointVersion(number + 1) }

    public var description: String { folderName }

    public static func < (lhs: CheckpointVersion, rhs: CheckpointVersion) -> Bool { lhs.number < rhs.number }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let number = try container.decode(Int.self)
        guard (1...Self.maximum).contains(number) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "version \(number) outside 1...\(Self.maximum)")
        }
        self.number = number
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(number)
    }
}
