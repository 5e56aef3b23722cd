import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import Yams

/// Every response a test receives through `send` is held against `openapi.yaml`: its status
/// must be one the operation documents, and a JSON body must match the documented schema —
/// required fields present, types and enums as written, no field the spec does not name. A
/// field renamed in the code, a status code added or a value outside its enum fails the test
/// that saw it, whichever suite it is in (the generated client does the same for the flows
/// written against it).
enum SpecConformance {
    struct Operation {
        let segments: [Substring]
        let responses: [String: Any]
        /// Literal segments: the most specific template wins (`watched-words.csv` over `{wordID}`).
        var literals: Int { segments.filter { !$0.hasPrefix("{") }.count }
    }

    /// The spec, read once per test process. Never written after it is read (hence
    /// `nonisolated(unsafe)`: `[String: Any]` cannot say so to the compiler).
    nonisolated(unsafe) static let spec: (document: [String: Any], operations: [String: [Operation]]) = {
        let url = TestDatabase.repositoryRoot.appendingPathComponent("openapi.yaml")
        guard let text = try? String(contentsOf: url, encoding: .utf8),
              let document = (try? Yams.load(yaml: text)) as? [String: Any],
              let paths = document["paths"] as? [String: Any] else {
            preconditionFailure("openapi.yaml must be readable YAML with paths")
        }
        var operations: [String: [Operation]] = [:]
        for (path, item) in paths {
            guard let item = item as? [String: Any] else { continue }
            for (method, value) in item {
                guard let operation = value as? [String: Any], let responses = operation["responses"] as? [String: Any] else { continue }
                operations[method.uppercased(), default: []].append(Operation(segments: path.split(separator: "/"), responses: responses))
            }
        }
        return (document, operations)
    }()

    /// Records an issue for each way the response departs from the spec.
    static func check(_ method: HTTPRequest.Method, _ uri: String, _ response: TestResponse, sourceLocation: SourceLocation) {
        let json = response.headers[.contentType]?.hasPrefix("application/json") == true
        for problem in departures(method, uri, status: Int(response.status.code), jsonBody: json ? Data(response.body.readableBytesView) : nil).prefix(5) {
            Issue.record("\(method) \(uri) departs from openapi.yaml: \(problem)", sourceLocation: sourceLocation)
        }
    }

    /// How a response (its status, and its body when it is JSON) departs from the spec.
    static func departures(_ method: HTTPRequest.Method, _ uri: String, status: Int, jsonBody: Data?) -> [String] {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let segments = path.split(separator: "/")
        // Routes the spec does not describe (an unknown path, a method it lacks) are the
        // route-drift test's business: nothing to hold this response against.
        guard let operation = spec.operations[method.rawValue]?
            .filter({ $0.segments.count == segments.count && zip($0.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 } })
            .max(by: { $0.literals < $1.literals }) else { return [] }
        // The spec's description says any operation may also answer 503 (the database away),
        // with the shared error body.
        let universal: [String: Any]? = status == 503 ? ["$ref": "#/components/responses/Error"] : nil
        guard let documented = operation.responses[String(status)] ?? operation.responses["default"] ?? universal else {
            return ["it answered \(status), which the spec does not document for this operation"]
        }
        guard let jsonBody, let content = (resolve(documented)["content"] as? [String: Any]),
              let json = content["application/json"] as? [String: Any], let schema = json["schema"] as? [String: Any] else { return [] }
        guard let body = try? JSONSerialization.jsonObject(with: jsonBody, options: [.fragmentsAllowed]) else {
            return ["\(status): the body is not JSON"]
        }
        var problems: [String] = []
        validate(body, against: schema, at: "\(status) body", problems: &problems)
        return problems
    }

    /// Follows `$ref` (to components) until an object that is not a reference.
    static func resolve(_ value: Any) -> [String: Any] {
        var current = value as? [String: Any] ?? [:]
        while let reference = current["$ref"] as? String, reference.hasPrefix("#/") {
            var node: Any = spec.document
            for key in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(key)] ?? [:] }
            current = node as? [String: Any] ?? [:]
        }
        return current
    }

    static func validate(_ value: Any, against rawSchema: [String: Any], at place: String, problems: inout [String]) {
        let schema = resolve(rawSchema)
        if let choices = schema["oneOf"] as? [[String: Any]] {
            let matches = choices.filter { choice in
                var scratch: [String] = []
                validate(value, against: choice, at: place, problems: &scratch)
                return scratch.isEmpty
            }
            if matches.isEmpty { problems.append("\(place) matches none of its oneOf schemas") }
            return
        }
        let types: [String]
        switch schema["type"] {
        case let type as String: types = [type]
        case let list as [String]: types = list
        default: types = []
        }
        let actual = kind(of: value)
        if !types.isEmpty, !types.contains(where: { accepts($0, actual) }) {
            problems.append("\(place) is \(actual), the spec says \(types.joined(separator: " or "))")
            return
        }
        if let allowed = schema["enum"] as? [Any], let text = value as? String, !allowed.contains(where: { ($0 as? String) == text }) {
            problems.append("\(place) is \"\(text)\", not one of the spec's \(allowed.compactMap { $0 as? String })")
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                problems.append("\(place).\(key) is required by the spec and missing")
            }
            for (key, field) in object {
                if let fieldSchema = properties[key] as? [String: Any] {
                    validate(field, against: fieldSchema, at: "\(place).\(key)", problems: &problems)
                } else if let extra = schema["additionalProperties"] as? [String: Any] {
                    validate(field, against: extra, at: "\(place).\(key)", problems: &problems)
                } else if !properties.isEmpty, schema["additionalProperties"] as? Bool != true {
                    problems.append("\(place).\(key) is not in the spec")
                }
            }
        } else if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, element) in array.enumerated() { validate(element, against: items, at: "\(place)[\(index)]", problems: &problems) }
        }
    }

    static func kind(of value: Any) -> String {
        switch value {
        case is NSNull: "null"
        case is String: "string"
        case is [Any]: "array"
        case is [String: Any]: "object"
        case let number as NSNumber:
            // JSON booleans arrive as NSNumbers too; their type encoding is 'c' (char).
            String(cString: number.objCType) == "c" ? "boolean" : (number.doubleValue.rounded() == number.doubleValue ? "integer" : "number")
        default: "unknown"
        }
    }

    static func accepts(_ type: String, _ actual: String) -> Bool {
        type == actual || (type == "number" && actual == "integer")
    }
}
