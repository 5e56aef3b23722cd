import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import KairanCore

/// An entry of JMA's Atom feed: one document, by its URL.
public struct JMAFeedEntry: Sendable, Equatable {
    public let title: String
    public let url: String
    public let updated: Date?

    /// The issuing office's six-digit code, the last part of the document's file name
    /// (`…_VPWW54_140000.xml`); its first two digits are the prefecture's.
    public var officeCode: String? {
        guard let name = url.split(separator: "/").last, name.hasSuffix(".xml") else { return nil }
        guard let last = name.dropLast(4).split(separator: "_").last, last.count == 6, last.allSatisfy(\.isNumber) else { return nil }
        return String(last)
    }
}

public enum JMAXMLError: Error, Equatable {
    case unreadable(String)
}

/// Reads JMA's 防災情報XML: the Atom feeds, and the warning documents' parts Kairan uses.
/// Elements are matched by their local names along their path, not by prefixes (JMA's
/// documents declare the same namespaces under different prefixes).
public enum JMAXML {
    /// The feed's entries, in the order given.
    public static func feed(_ data: Data) throws -> [JMAFeedEntry] {
        let reader = FeedReader()
        try reader.parse(data)
        return reader.entries
    }

    /// The document's head and its municipality-level warnings (`（市町村等）`).
    public static func warningDocument(_ data: Data) throws -> WarningDocument {
        let reader = DocumentReader()
        try reader.parse(data)
        guard let reportTime = RFC3339.date(reader.reportDateTime.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw JMAXMLError.unreadable("Head/ReportDateTime is not a date-time")
        }
        return WarningDocument(
            title: reader.controlTitle.trimmingCharacters(in: .whitespacesAndNewlines),
            status: reader.controlStatus.trimmingCharacters(in: .whitespacesAndNewlines),
            infoType: reader.infoType.trimmingCharacters(in: .whitespacesAndNewlines),
            reportTime: reportTime, headline: reader.headline.trimmingCharacters(in: .whitespacesAndNewlines), areas: reader.areas)
    }
}

/// Shared by the readers: the path of local names to the current element, and its text.
private class PathReader: NSObject, XMLParserDelegate {
    var path: [String] = []
    var text = ""
    var failure: String?

    func parse(_ data: Data) throws {
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        // JMA's documents reference no entities; refusing external ones keeps a hostile
        // document from reading files or the network.
        parser.shouldResolveExternalEntities = false
        parser.delegate = self
        guard parser.parse(), failure == nil else {
            throw JMAXMLError.unreadable(failure ?? parser.parserError.map { "\($0)" } ?? "not XML")
        }
    }

    func ends(with suffix: [String]) -> Bool {
        path.count >= suffix.count && Array(path.suffix(suffix.count)) == suffix
    }

    func opened(_ name: String, attributes: [String: String]) {}
    func closed(_ name: String, text: String) {}

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        path.append(elementName)
        text = ""
        opened(elementName, attributes: attributes)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        // Bounded: no field Kairan reads is long; a document that says otherwise is not one.
        if text.utf8.count < 64 * 1024 { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        closed(elementName, text: text)
        text = ""
        path.removeLast()
    }
}

private final class FeedReader: PathReader {
    var entries: [JMAFeedEntry] = []
    private var title = ""
    private var url = ""
    private var updated = ""

    override func opened(_ name: String, attributes: [String: String]) {
        if name == "entry" {
            (title, url, updated) = ("", "", "")
        } else if name == "link", ends(with: ["entry", "link"]), let href = attributes["href"] {
            url = href
        }
    }

    override func closed(_ name: String, text: String) {
        if ends(with: ["entry", "title"]) {
            title = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if ends(with: ["entry", "id"]), url.isEmpty {
            url = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if ends(with: ["entry", "updated"]) {
            updated = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if name == "entry", path.count == 2 {
            if !url.isEmpty { entries.append(JMAFeedEntry(title: title, url: url, updated: RFC3339.date(updated))) }
        }
    }
}

private final class DocumentReader: PathReader {
    var controlTitle = ""
    var controlStatus = ""
    var infoType = ""
    var reportDateTime = ""
    var headline = ""
    var areas: [WarningArea] = []

    private var inMunicipalities = false
    private var kinds: [WarningKind] = []
    private var kind = (code: "", name: "", status: "", last: "")
    private var area = (code: "", name: "")

    override func opened(_ name: String, attributes: [String: String]) {
        if name == "Warning", ends(with: ["Body", "Warning"]) {
            inMunicipalities = attributes["type"]?.hasSuffix("（市町村等）") == true
        } else if inMunicipalities && name == "Item" {
            kinds = []
            area = ("", "")
        } else if inMunicipalities && ends(with: ["Item", "Kind"]) {
            kind = ("", "", "", "")
        }
    }

    override func closed(_ name: String, text: String) {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if ends(with: ["Report", "Control", "Title"]) {
            controlTitle = value
        } else if ends(with: ["Report", "Control", "Status"]) {
            controlStatus = value
        } else if ends(with: ["Report", "Head", "InfoType"]) {
            infoType = value
        } else if ends(with: ["Report", "Head", "ReportDateTime"]) {
            reportDateTime = value
        } else if ends(with: ["Report", "Head", "Headline", "Text"]) {
            headline = value
        } else if inMunicipalities {
            // Only the Kind's own Name/Code/Status: LastKind and NextKinds hold some too.
            if ends(with: ["Item", "Kind", "Name"]) {
                kind.name = value
            } else if ends(with: ["Item", "Kind", "Code"]) {
                kind.code = value
            } else if ends(with: ["Item", "Kind", "Status"]) {
                kind.status = value
            } else if ends(with: ["Item", "Kind", "LastKind", "Code"]) {
                kind.last = value
            } else if ends(with: ["Item", "Kind"]) {
                kinds.append(WarningKind(code: kind.code, name: kind.name, status: kind.status, lastCode: kind.last.isEmpty ? nil : kind.last))
            } else if ends(with: ["Item", "Area", "Name"]) {
                area.name = value
            } else if ends(with: ["Item", "Area", "Code"]) {
                area.code = value
            } else if ends(with: ["Warning", "Item"]) {
                if !area.code.isEmpty { areas.append(WarningArea(code: area.code, name: area.name, kinds: kinds)) }
            } else if ends(with: ["Body", "Warning"]) {
                inMunicipalities = false
            }
        }
    }
}
