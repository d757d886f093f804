// Rendering helpers for report kinds: CSV (RFC 4180, formula-safe) and a real PDF (pdfkit) of titled
// tables. Each report kind supplies its own Renderers built from these (statements below; the
// reconciliation's in src/reconciliation). A PDF cannot carry its own signature (its bytes are what is
// signed): it carries the content hash, the report key's fingerprint and how to verify; the signature
// is the detached file from GET /v1/audit/reports/:reportId/signature.
import PDFDocument from 'pdfkit';

export interface RenderMeta {
  kind: string;
  reportKey: string;
  contentHash: string;
  /** When the manifest is signed (ISO); the PDF's creation date, so a render is repeatable. */
  signedAt: string;
  /** Fingerprint of the report key that signs the manifest (sha256 of the compressed key, 16 bytes). */
  reportKeyFingerprint?: string;
}

export interface Renderers {
  csv(content: unknown): Buffer;
  /** meta is given by ReportService.publish; renderers may ignore it. */
  pdf(content: unknown, meta?: RenderMeta): Promise<Buffer>;
}

/** A cell that a spreadsheet would run as a formula is prefixed with an apostrophe (CSV injection). */
function csvCell(value: string): string {
  const safe = /^[=+@\t\r]/.test(value) || /^-[^0-9]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(rows: string[][]): Buffer {
  return Buffer.from(rows.map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n', 'utf8');
}

export interface PdfSection { heading: string; lines?: string[]; table?: string[][] }

export const VERIFY_INSTRUCTIONS = [
  'How to verify: a PDF cannot carry its own signature (its bytes are what is signed). Download this report and its detached',
  'signature (GET /v1/audit/reports/{reportId}/signature), then run',
  '`amanat report verify <this file> --signature <signature file> --public-key <published report key>` (GET /v1/audit/report-key).',
  'The SHA-256 of this file must be the manifest\'s files.pdf; the manifest is signed (ECDSA secp256k1) over',
  'SHA-256("amanat-report-v1\\n" + canonical JSON of the manifest) by the report key (docs/reports.md).',
];

/**
 * One signed-report PDF: A4, the title, what `draw` puts on the page, then the integrity block (the
 * content hash, the report key's fingerprint and how to verify). The creation date is the signing
 * time, so the same content and meta render the same bytes.
 */
export function pdfReport(title: string, meta: RenderMeta | undefined, draw: (doc: PDFKit.PDFDocument) => void, margin = 48): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const created = meta ? new Date(meta.signedAt) : new Date(0);
    const doc = new PDFDocument({ size: 'A4', margin, info: { Title: title, Producer: 'Amanat', Creator: 'Amanat', CreationDate: created, ModDate: created } });
    const chunks: Buffer[] = [];
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    doc.font('Helvetica-Bold').fontSize(16).text(title);
    doc.moveDown(0.5);
    draw(doc);
    doc.moveDown(1);
    doc.font('Helvetica-Bold').fontSize(10).text('Integrity and signature', margin);
    doc.font('Helvetica').fontSize(8);
    if (meta) {
      doc.text(`Report: ${meta.kind} ${meta.reportKey}, signed at ${meta.signedAt}.`);
      doc.text(`Content hash (SHA-256 of the canonical JSON): ${meta.contentHash}`);
      if (meta.reportKeyFingerprint) doc.text(`Report key fingerprint: ${meta.reportKeyFingerprint}`);
    }
    for (const line of VERIFY_INSTRUCTIONS) doc.text(line);
    doc.end();
  });
}

/** A PDF of titled sections (lines and tables), with the content hash and verification notes at the end. */
export function renderPdf(title: string, sections: PdfSection[], meta?: RenderMeta): Promise<Buffer> {
  return pdfReport(title, meta, (doc) => {
    for (const section of sections) {
      doc.font('Helvetica-Bold').fontSize(12).text(section.heading);
      doc.font('Helvetica').fontSize(10);
      for (const line of section.lines ?? []) doc.text(line);
      if (section.table && section.table.length > 0) {
        const columns = section.table[0]!.length;
        const width = (doc.page.width - 96) / columns;
        section.table.forEach((row, index) => {
          if (doc.y > doc.page.height - 96) doc.addPage();
          const y = doc.y;
          doc.font(index === 0 ? 'Helvetica-Bold' : 'Helvetica');
          let bottom = y;
          row.forEach((cell, column) => {
            doc.text(cell, 48 + column * width, y, { width: width - 6 });
            bottom = Math.max(bottom, doc.y);
          });
          doc.x = 48;
          doc.y = bottom + 2;
        });
        doc.font('Helvetica');
      }
      doc.moveDown(0.8);
    }
  });
}
