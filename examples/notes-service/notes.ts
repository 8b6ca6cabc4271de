import { EventEmitter } from 'node:events';

/** A note, with its attachment's name and bytes when one was uploaded. */
export interface Note {
  id: number;
  text: string;
  version: number;
  attachment?: { name: string; type: string; bytes: Uint8Array };
}

/** What `/api/changes` streams and the webhook delivers. */
export interface Change {
  event: 'created' | 'updated' | 'deleted';
  id: number;
  version: number;
}

/** The in-memory notes by id, and an emitter of their changes. */
export class Notes extends EventEmitter<{ change: [Change] }> {
  readonly byId = new Map<number, Note>();
  #lastId = 0;

  create(text: string): Note {
    this.#lastId += 1;
    const note: Note = { id: this.#lastId, text, version: 1 };
    this.byId.set(note.id, note);
    this.emit('change', { event: 'created', id: note.id, version: note.version });
    return note;
  }

  update(note: Note, changes: Partial<Pick<Note, 'text' | 'attachment'>>): Note {
    Object.assign(note, changes, { version: note.version + 1 });
    this.emit('change', { event: 'updated', id: note.id, version: note.version });
    return note;
  }

  delete(note: Note): void {
    this.byId.delete(note.id);
    note.version += 1;
    this.emit('change', { event: 'deleted', id: note.id, version: note.version });
  }
}

/** A note as JSON: its attachment's name only, never its bytes. */
export function toJson(note: Note): object {
  return { id: note.id, text: note.text, version: note.version, attachment: note.attachment?.name ?? null };
}
