import { NotFound, PermissionDenied, type HttpError } from './errors.js';

/**
 * The answer to a file system error met looking up or opening the file at
 * `shown` (the request's path), or undefined for one that is the server's own
 * trouble (EIO, EMFILE: a 500, logged). As nginx and Go's FileServer answer:
 * a file the server may not read (EACCES, EPERM) is a 403. A symbolic link
 * loop (ELOOP) is a 404: such a link leads to no file, as a dangling one
 * (ENOENT) or one out of the root does here (nginx's 403 for it comes with
 * `disable_symlinks`, a refusal by policy, which this is not).
 */
export function fileRefusal(error: unknown, shown: string): HttpError | undefined {
  switch ((error as NodeJS.ErrnoException | null | undefined)?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      return new NotFound(`no file at ${shown}`);
    case 'ELOOP':
      return new NotFound(`no file at ${shown}: its symbolic links go round in a loop`);
    case 'EACCES':
    case 'EPERM':
      return new PermissionDenied(`${shown} is not served: the server may not read it`);
    default:
      return undefined;
  }
}
