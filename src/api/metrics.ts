import { Registry, collectDefaultMetrics, Counter, Histogram } from 'prom-client';

export interface HttpMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'amanat_' });
  const requests = new Counter({ name: 'amanat_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'] as const, registers: [registry] });
  const duration = new Histogram({ name: 'amanat_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  return { registry, requests, duration };
}
