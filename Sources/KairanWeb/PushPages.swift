import Foundation
import Hummingbird
import KairanAPI
import KairanCore
import KairanServices

/// Web Push from the pages: the service worker that shows a notice on a closed phone, the
/// script's registration of this device, and removing a device from マイページ.
struct PushPages {
    let web: WebFrontEnd
    var services: Services { web.services }

    func addRoutes(to routes: RouterGroup<KairanRequestContext>) {
        routes.post("/push-devices", use: register)
        routes.post("/me/push-devices/:id/delete", use: remove)
    }

    /// At the site's root so it may show notices for every page of it. Browsers check it for
    /// updates themselves: it is never cached for long.
    static func addServiceWorker(to router: Router<KairanRequestContext>) {
        router.get("/sw.js") { _, _ in
            var response = Assets.asset(ServiceWorkerScript.text, type: "text/javascript; charset=utf-8")
            response.headers[.cacheControl] = "no-cache"
            return response
        }
    }

    struct Registered: ResponseEncodable {
        let id: Int64
    }

    /// The script posts the browser's `PushSubscription` here, with the page's form token.
    /// It sends no device name: the list shows the push service and the date.
    @Sendable func register(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.verifyScriptRequest(request, context: context)
        let actor = try context.requireActor()
        let input = try await request.decode(as: PushSubscriptionJSON.self, context: context)
        let device = try await services.pushDevices.subscribe(actor, input, logger: context.logger)
        var response = try Registered(id: device.id).response(from: request, context: context)
        response.status = .created
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func remove(_ request: Request, context: KairanRequestContext) async throws -> Response {
        try await web.respond(request, context: context) { page in
            let actor = try web.requireActor(page)
            _ = try await web.postedForm(request, context: context)
            guard let id = context.parameters.get("id", as: Int64.self) else { throw ServiceError.notFound }
            try await services.pushDevices.unsubscribe(actor, id: id, logger: context.logger)
            return PageRenderer.redirect("/me?m=push-removed")
        }
    }
}

/// The service worker: shows each push as a notification (urgent ones stay until touched)
/// and opens the notice's page when it is touched. It reads only the fields it shows and
/// opens only paths of this site.
enum ServiceWorkerScript {
    static let text = #"""
        self.addEventListener("push", (event) => {
          let data = {};
          try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
          const title = typeof data.title === "string" && data.title ? data.title : "回覧板";
          const url = typeof data.url === "string" && data.url.startsWith("/") && !data.url.startsWith("//") ? data.url : "/";
          event.waitUntil(self.registration.showNotification(title, {
            body: typeof data.body === "string" ? data.body : "",
            tag: typeof data.tag === "string" ? data.tag : undefined,
            renotify: Boolean(data.tag),
            requireInteraction: data.urgent === true,
            lang: "ja",
            data: { url },
          }));
        });

        self.addEventListener("notificationclick", (event) => {
          event.notification.close();
          const url = new URL(event.notification.data && event.notification.data.url || "/", self.location.origin).href;
          event.waitUntil((async () => {
            const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
            for (const client of open) {
              if (client.url === url && "focus" in client) return client.focus();
            }
            return self.clients.openWindow(url);
          })());
        });
        """#
}
