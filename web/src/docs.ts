// The API reference page (/api/docs): swagger-ui from npm, bundled and served by the hub, reading
// the OpenAPI document the API generates from its code. No CDN, no inline script.
import 'swagger-ui-dist/swagger-ui.css';
import SwaggerUIBundle from 'swagger-ui-dist/swagger-ui-bundle.js';

SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#swagger',
  deepLinking: true,
  // Requests from "Try it out" go to the same hub with the session cookie; mutating ones need
  // the CSRF header the hub checks.
  requestInterceptor: (req: { method?: string; headers: Record<string, string> }) => {
    if (req.method && req.method.toUpperCase() !== 'GET') req.headers['X-Gridtrust-CSRF'] = '1';
    return req;
  },
});
