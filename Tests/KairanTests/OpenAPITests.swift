import Foundation
import KairanAPI
import KairanGateway
import KairanServices
import KairanStore
import PostgresNIO
import Testing

/// `openapi.yaml` must describe exactly the routes the server registers.
@Suite struct OpenAPITests {
    /// (method, path) pairs under `paths:`, read from the file's fixed layout: paths at two
    /// spaces of indent, operations at four.
    static func specifiedOperations() throws -> Set<String> {
        let text = try String(contentsOf: TestDatabase.repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line == "paths:" ; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let currentPath, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "patch", "delete"].contains(String(key)) {
                    operations.insert("\(key.uppercased()) \(currentPath)")
                }
            }
        }
        return operations
    }

    /// The check every `send` runs: a conforming response passes; a renamed field, a value
    /// outside its enum, a wrong type and an undocumented status are each caught.
    @Test func responsesAreHeldAgainstTheSpec() {
        func problems(_ status: Int, _ json: String) -> [String] {
            SpecConformance.departures(.post, "/v1/moderation/watched-words", status: status, jsonBody: Data(json.utf8))
        }
        #expect(problems(201, #"{"id":1,"pattern":"ばか","normalized":"ばか","action":"block","foldKana":false}"#).isEmpty)
        let renamed = problems(201, #"{"id":1,"pattern":"ばか","normalized":"ばか","action":"block","foldsKana":false}"#)
        #expect(renamed.contains { $0.contains("foldKana is required") } && renamed.contains { $0.contains("foldsKana is not in the spec") }, "\(renamed)")
        #expect(problems(201, #"{"id":1,"pattern":"ばか","normalized":"ばか","action":"ban","foldKana":false}"#).contains { $0.contains("not one of") })
        #expect(problems(201, #"{"id":"1","pattern":"ばか","normalized":"ばか","action":"block","foldKana":false}"#).contains { $0.contains("is string") })
        #expect(problems(418, "{}").contains { $0.contains("does not document") })
        #expect(problems(503, #"{"error":{"code":"database_unavailable","message":"…"}}"#).isEmpty, "any operation may answer 503, as the spec says")
        #expect(problems(422, #"{"error":{"code":"too_long","message":"…"}}"#).isEmpty, "errors through the shared Error response")
        #expect(SpecConformance.departures(.get, "/v1/threads/7/posts?before=3", status: 200, jsonBody: Data(#"{"items":[],"nextBefore":null}"#.utf8)).isEmpty)
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() throws {
        // The routes are read without serving anything: a client that is never run is enough.
        let client = PostgresClient(configuration: .init(host: "127.0.0.1", username: "unused", password: nil, database: nil, tls: .disable))
        let database = Database(client: client, logger: TestDatabase.logger)
        let dependencies = APIDependencies(database: database, clock: TestClock(), passwordHasher: PasswordHasher(), sessionLifetime: 3600,
                                           streamHub: StreamHub(database: database, clock: TestClock(), logger: TestDatabase.logger))
        let (_, routes) = buildRouter(dependencies)
        let registered = Set(routes.map(\.description))
        let specified = try Self.specifiedOperations()
        #expect(registered.count > 5)
        #expect(registered.subtracting(specified).isEmpty, "routes missing from openapi.yaml: \(registered.subtracting(specified).sorted())")
        #expect(specified.subtracting(registered).isEmpty, "openapi.yaml documents routes the server lacks: \(specified.subtracting(registered).sorted())")
    }
}
