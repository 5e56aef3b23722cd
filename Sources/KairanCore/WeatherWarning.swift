import Foundation

/// One warning or advisory (気象警報・注意報) as a JMA document states it for an area.
public struct WarningKind: Sendable, Equatable, Hashable {
    /// JMA's code for the kind (`03` 大雨警報, `15` 強風注意報…): the same in the older
    /// system and the 2026 one where the phenomenon is the same.
    public let code: String
    public let name: String
    /// `発表`, `継続`, `解除`, `警報から注意報`, `発表警報・注意報はなし`…
    public let status: String
    /// The kind this one replaces (`LastKind`): the 警報 a 特別警報 steps up from, or a
    /// 注意報 steps down from.
    public let lastCode: String?

    public init(code: String, name: String, status: String, lastCode: String? = nil) {
        self.code = code
        self.name = name
        self.status = status
        self.lastCode = lastCode
    }

    /// In force after the document. An unknown status counts as in force: showing a warning
    /// a little too long is safer than hiding a real one.
    public var inForce: Bool {
        !code.isEmpty && status != "解除" && status != "発表警報・注意報はなし"
    }

    /// Issued by this document (not carried on, and not a step down from a higher level).
    public var isIssued: Bool { status == "発表" }

    public var level: WarningLevel { WarningLevel(name: name) }
}

/// How serious a kind is, read from its name, which in both systems says it.
public enum WarningLevel: Int, Sendable, Comparable {
    /// 注意報
    case advisory
    /// 警報, and the 2026 system's 危険警報
    case warning
    /// 特別警報
    case emergency

    public init(name: String) {
        if name.contains("特別警報") {
            self = .emergency
        } else if name.contains("警報") {
            self = .warning
        } else {
            self = .advisory
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One municipality-level area of a document (`（市町村等）`) and its kinds.
public struct WarningArea: Sendable, Equatable {
    /// Seven digits: the municipality's code and `00`, or `01`, `02`… where a municipality
    /// is split into several warning areas.
    public let code: String
    public let name: String
    public let kinds: [WarningKind]

    public init(code: String, name: String, kinds: [WarningKind]) {
        self.code = code
        self.name = name
        self.kinds = kinds
    }
}

/// A warning document (VPWW53, VPWW54, or the 2026 system's VPWW55…61) as read.
public struct WarningDocument: Sendable, Equatable {
    /// Control/Title: which document it is.
    public let title: String
    /// Control/Status: `通常`, or `訓練` / `試験`, which are never sent to residents.
    public let status: String
    /// Head/InfoType: `発表`, `訂正` or `取消`.
    public let infoType: String
    public let reportTime: Date
    public let headline: String
    public let areas: [WarningArea]

    public init(title: String, status: String, infoType: String, reportTime: Date, headline: String, areas: [WarningArea]) {
        self.title = title
        self.status = status
        self.infoType = infoType
        self.reportTime = reportTime
        self.headline = headline
        self.areas = areas
    }

    /// Documents compared with each other to see what changed: the older system's two
    /// documents each carry the whole picture (`h27`); each 2026 document carries one
    /// phenomenon (`r06:大雨`…). Nil for a title that is not a warning document Kairan reads
    /// (the nationwide 集約通報 and the time series are not).
    public static func family(ofTitle title: String) -> String? {
        switch title {
        case "気象特別警報・警報・注意報", "気象警報・注意報（Ｈ２７）":
            return "h27"
        default:
            let prefix = "気象警報・注意報（Ｒ０６）（"
            guard title.hasPrefix(prefix), title.hasSuffix("）") else { return nil }
            let phenomenon = title.dropFirst(prefix.count).dropLast()
            guard !phenomenon.isEmpty, phenomenon != "集約通報", phenomenon.count <= 20 else { return nil }
            return "r06:\(phenomenon)"
        }
    }

    public var family: String? { Self.family(ofTitle: title) }
}

/// What a document changed for one area, against what was in force before it.
public struct WarningChange: Sendable, Equatable {
    /// Newly issued (`発表`) and not in force before.
    public let issued: [WarningKind]
    /// In force before and no longer (lifted, or stepped down to a lower kind).
    public let ended: [(code: String, name: String)]
    /// Everything in force after the document.
    public let inForce: [WarningKind]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.issued == rhs.issued && lhs.inForce == rhs.inForce && lhs.ended.map(\.code) == rhs.ended.map(\.code)
    }

    public init(issued: [WarningKind], ended: [(code: String, name: String)], inForce: [WarningKind]) {
        self.issued = issued
        self.ended = ended
        self.inForce = inForce
    }

    /// `previous`: the kinds in force before, or nil when nothing is known of the area in
    /// this family. A kind carried on (`継続`) that was not in force before is announced
    /// when the area was known (its issuance was missed: a document lost to an outage), and
    /// taken in silently when it was not (Kairan started while it was in force; the
    /// announcement record still keeps it from being told twice). A kind stepped up from
    /// (the `LastKind` of a new issuance, 大雨警報 → 大雨特別警報) is replaced, not lifted.
    public init(previous: [(code: String, name: String)]?, area: WarningArea) {
        let before = Set((previous ?? []).map(\.code))
        var seen = Set<String>()
        inForce = area.kinds.filter { $0.inForce && seen.insert($0.code).inserted }
        let now = Set(inForce.map(\.code))
        issued = inForce.filter { kind in
            !before.contains(kind.code) && (kind.isIssued || (previous != nil && kind.status == "継続"))
        }
        let steppedUp = Set(issued.compactMap(\.lastCode))
        ended = (previous ?? []).filter { !now.contains($0.code) && !steppedUp.contains($0.code) }
    }
}

/// Which warnings the town sends, and how.
public struct WeatherWarningPolicy: Sendable, Equatable {
    public enum Advisories: String, Sendable, CaseIterable {
        /// 注意報 are not sent.
        case skip
        /// Sent as normal alerts (they wait for a subscriber's receive window).
        case normal
        /// Sent as urgent alerts, like warnings.
        case urgent
    }

    /// Which alerts wait for alert staff to send them.
    public enum Approval: String, Sendable, CaseIterable {
        /// None: everything goes out at once.
        case off
        /// Those about advisories (注意報) only; anything about a warning goes at once.
        case advisories
        /// Every one.
        case all
    }

    /// The town's JMA area codes (seven digits) and, for each, the town's alert areas it
    /// stands for (empty: the whole town).
    public var areas: [String: [String]]
    public var advisories: Advisories
    /// The alert category the alerts go out under.
    public var category: String
    public var approval: Approval

    public init(areas: [String: [String]], advisories: Advisories = .normal, category: String = "disaster", approval: Approval = .off) {
        self.areas = areas
        self.advisories = advisories
        self.category = category
        self.approval = approval
    }

    /// Whether an alert about this change waits for a person.
    public func needsApproval(_ change: WarningChange) -> Bool {
        switch approval {
        case .off: return false
        case .all: return true
        case .advisories:
            let levels = change.issued.map(\.level) + change.ended.map { WarningLevel(name: $0.name) }
            return levels.allSatisfy { $0 == .advisory }
        }
    }

    /// Whether this kind is announced at all (its issuance and its lifting).
    public func announces(_ level: WarningLevel) -> Bool {
        level > .advisory || advisories != .skip
    }

    /// Two-digit prefecture codes the areas lie in: feed entries name the issuing office,
    /// whose code starts with the prefecture's, so other prefectures' documents are never
    /// fetched.
    public var prefectures: Set<String> { Set(areas.keys.map { String($0.prefix(2)) }) }

    /// `1420100` or `1420100=kita+minami`, comma-separated.
    public static func parseAreas(_ text: String) throws(ValidationError) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let code = parts[0]
            guard code.count == 7, code.allSatisfy(\.isASCII), code.allSatisfy(\.isNumber) else {
                throw ValidationError(field: "jmaAreas", code: "invalid", message: "'\(code)' is not a seven-digit JMA area code (municipality code and 00, e.g. 1420100)")
            }
            result[code] = parts.count == 2 ? parts[1].split(separator: "+").map(String.init) : []
        }
        return result
    }
}

/// The alert a change becomes: words residents read on a phone.
public struct WeatherWarningMessage: Sendable, Equatable {
    public let subject: String
    public let body: String
    public let urgent: Bool

    /// Nil when nothing in the change is announced under the policy.
    public init?(change: WarningChange, areaName: String, document: WarningDocument, policy: WeatherWarningPolicy, zone: TimeZone) {
        let issued = change.issued.filter { policy.announces($0.level) }
        let ended = change.ended.filter { policy.announces(WarningLevel(name: $0.name)) }
        guard !issued.isEmpty || !ended.isEmpty else { return nil }
        let when = Self.japaneseTime(document.reportTime, zone: zone)
        var lines: [String] = []
        if !issued.isEmpty {
            let names = issued.map(\.name).joined(separator: "・")
            subject = Self.clipped("\(areaName)に\(names)が発表されました")
            lines.append("気象庁は\(when)、\(areaName)に次の警報・注意報を発表しました。")
            lines.append("")
            lines.append("発表: \(issued.map(\.name).joined(separator: "、"))")
            urgent = issued.contains { $0.level > .advisory } || policy.advisories == .urgent
        } else {
            let names = ended.map(\.name).joined(separator: "・")
            subject = Self.clipped("\(areaName)の\(names)が解除されました")
            lines.append("気象庁は\(when)、\(areaName)の次の警報・注意報を解除しました。")
            lines.append("")
            urgent = false
        }
        if !ended.isEmpty {
            lines.append("解除: \(ended.map(\.name).joined(separator: "、"))")
        }
        if change.inForce.isEmpty {
            lines.append("現在、\(areaName)に発表中の警報・注意報はありません。")
        } else {
            lines.append("発表中: \(change.inForce.map(\.name).joined(separator: "、"))")
        }
        let headline = document.headline.trimmingCharacters(in: .whitespacesAndNewlines)
        if !headline.isEmpty {
            lines.append("")
            lines.append(String(headline.prefix(1000)))
        }
        lines.append("")
        lines.append("気象庁の情報をもとに自動で送信しています。最新の情報は気象庁のホームページ（https://www.jma.go.jp/bosai/warning/）で確かめてください。")
        body = lines.joined(separator: "\n")
    }

    /// Cut with an ellipsis at 90 characters: the alert's limit is 100, and sending puts the
    /// category (【防災】) in front.
    static func clipped(_ subject: String) -> String {
        subject.count <= 90 ? subject : String(subject.prefix(89)) + "…"
    }

    /// 2026年7月15日 16時03分
    static func japaneseTime(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return "\(parts.year ?? 0)年\(parts.month ?? 0)月\(parts.day ?? 0)日 \(parts.hour ?? 0)時\(String(format: "%02d", parts.minute ?? 0))分"
    }
}
