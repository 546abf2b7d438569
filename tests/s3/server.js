// s3rver (npm), as the tests run it, with the two calls of multipart uploads
// it lacks: AbortMultipartUpload (DELETE /bucket/key?uploadId=…), which
// removes the upload's parts from s3rver's own store, and
// ListMultipartUploads (GET /bucket?uploads), which lists the uploads still
// there (s3cmd's `multipart` command reads it). Everything else is s3rver's.
//
//   node server.js DIRECTORY PORT BUCKET
'use strict';

const fs = require('fs');
const path = require('path');
const S3rver = require('s3rver');

const [directory, port, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
});

const xml = (ctx, status, body) => {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
};
const escape = text =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// Only requests signed with the server's access key (s3rver checks no more).
const signed = ctx => /Credential=S3RVER\//.test(ctx.get('authorization'));

async function multipart(ctx, next) {
  const [, name, ...rest] = ctx.path.split('/');
  const key = decodeURIComponent(rest.join('/'));
  const uploads = server.store.getResourcePath(name || '', undefined, 'uploads');
  if (ctx.method === 'DELETE' && key && 'uploadId' in ctx.query) {
    if (!signed(ctx)) return xml(ctx, 403, '<Error><Code>AccessDenied</Code></Error>');
    const id = String(ctx.query.uploadId);
    const dir = path.join(uploads, path.basename(id));
    if (!id || !fs.existsSync(dir)) {
      return xml(ctx, 404, '<Error><Code>NoSuchUpload</Code></Error>');
    }
    fs.rmSync(dir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (ctx.method === 'GET' && name && !key && 'uploads' in ctx.query) {
    if (!signed(ctx)) return xml(ctx, 403, '<Error><Code>AccessDenied</Code></Error>');
    const ids = fs.existsSync(uploads) ? fs.readdirSync(uploads) : [];
    const items = ids
      .filter(id => fs.existsSync(path.join(uploads, id, 'key')))
      .map(id => {
        const k = fs.readFileSync(path.join(uploads, id, 'key'), 'utf8');
        const at = fs.statSync(path.join(uploads, id)).mtime.toISOString();
        return `<Upload><Key>${escape(k)}</Key><UploadId>${escape(id)}</UploadId>` +
          `<Initiated>${at}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`;
      });
    return xml(ctx, 200,
      `<ListMultipartUploadsResult><Bucket>${escape(name)}</Bucket>` +
      `<IsTruncated>false</IsTruncated>${items.join('')}</ListMultipartUploadsResult>`);
  }
  return next();
}

// Before s3rver's router (its last middleware), which would refuse both.
server.middleware.splice(server.middleware.length - 1, 0, multipart);
server.run().catch(err => {
  console.error(err);
  process.exit(1);
});
