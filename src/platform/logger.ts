import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs; anything that looks like a secret is redacted by path. */
export function createLogger(level: string, name = 'amanat'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.password', '*.apiKey', '*.secret', 'apiKey', 'secret'],
      censor: '[redacted]',
    },
  });
}
