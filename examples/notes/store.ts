/** An in-memory note store, standing in for a database. */
export interface Note {
  id: number;
  text: string;
  createdAt: string;
}

export class NoteStore {
  #notes = new Map<number, Note>();
  #nextId = 1;

  list(): Note[] {
    return [...this.#notes.values()];
  }

  get(id: number): Note | undefined {
    return this.#notes.get(id);
  }

  add(text: string): Note {
    const note = { id: this.#nextId++, text, createdAt: new Date().toISOString() };
    this.#notes.set(note.id, note);
    return note;
  }

  delete(id: number): boolean {
    return this.#notes.delete(id);
  }
}
