// The OpenAPI document is generated from the same route declarations and zod schemas that
// validate requests, so the two cannot drift.
import { z } from 'zod';
import type { RouteDef } from './route.ts';

function toSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
}

export function buildOpenApi(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const oaPath = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      if (!schema) continue;
      const json = toSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(json.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (json.required ?? []).includes(name), schema: s });
      }
    }
    if (r.mutating) {
      parameters.push({ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,255}$' },
        description: 'Same key + same body returns the first answer; same key + another body is a 422.' });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, description] of Object.entries(r.responses)) responses[status] = { description };
    if (r.roles !== 'public') {
      responses['401'] = { description: 'No or unknown API key', content: { 'application/problem+json': {} } };
      responses['403'] = { description: `Allowed roles: ${r.roles.join(', ')}`, content: { 'application/problem+json': {} } };
    }
    responses['400'] = { description: 'Malformed request (problem+json with a stable code)', content: { 'application/problem+json': {} } };
    paths[oaPath] ??= {};
    paths[oaPath][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      'x-roles': r.roles,
      security: r.roles === 'public' ? [] : [{ apiKey: [] }],
      parameters,
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(r.body) } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Amanat custody API', version,
      description: 'Amounts are decimal strings in asset units ("1.5" BTC); the server converts them to base units with the asset registry. Never floats.' },
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer amk_…' } } },
    paths,
  };
}
